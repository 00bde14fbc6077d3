// The rules CLI is how outside conformance suites reach the engine: run it as a user would.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";

const cli = resolve(import.meta.dirname, "../src/cli.ts");
const casesPath = resolve(import.meta.dirname, "../../rules/spec/rules-cases.json");

function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [cli, ...args], { input, encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("gatehouse rules", () => {
  test("check prints ok or the rendered error with exit 0 / 1", () => {
    const ok = run(["rules", "check", "--scheme", "dns", 'any(dns.domains[*] == "example.com")']);
    assert.equal(ok.code, 0);
    assert.equal(ok.out, "ok\n");
    const bad = run(["rules", "check", "--scheme", "dns", "dns.nope == 1"]);
    assert.equal(bad.code, 1);
    assert.match(
      bad.out,
      /^Filter parsing error \(1:1\):\ndns\.nope == 1\n\^{8} unknown identifier\n$/,
    );
  });

  test("check reads the expression from stdin with -", () => {
    const r = run(["rules", "check", "--scheme", "net", "-"], "net.dst.port in {22 3389}\n");
    assert.equal(r.code, 0);
    assert.equal(r.out, "ok\n");
  });

  test("fmt prints the canonical form", () => {
    const r = run([
      "rules",
      "fmt",
      "--scheme",
      "dns",
      'dns.fqdn eq "a"&&not dns.query_rtype=="TXT"',
    ]);
    assert.equal(r.code, 0);
    assert.equal(r.out, 'dns.fqdn == "a" and not dns.query_rtype == "TXT"\n');
  });

  test("eval evaluates against JSON fields, in both missing-value modes", () => {
    const t = run([
      "rules",
      "eval",
      "--scheme",
      "net",
      "--expr",
      "net.dst.port in {22 3389}",
      "--fields",
      '{"net.dst.port":22}',
    ]);
    assert.deepEqual([t.code, t.out], [0, "true\n"]);
    const cf = run([
      "rules",
      "eval",
      "--scheme",
      "dns",
      "--expr",
      'dns.fqdn != "a"',
      "--fields",
      "{}",
    ]);
    assert.deepEqual([cf.code, cf.out], [0, "false\n"]);
    const wf = run([
      "rules",
      "eval",
      "--scheme",
      "dns",
      "--missing",
      "wirefilter",
      "--expr",
      'dns.fqdn != "a"',
      "--fields",
      "{}",
    ]);
    assert.deepEqual([wf.code, wf.out], [0, "true\n"]);
  });

  test("eval --batch runs the whole conformance table from a scheme file", () => {
    const spec = JSON.parse(readFileSync(casesPath, "utf8")) as {
      scheme: unknown;
      cases: {
        id: number;
        expression: string;
        fields: unknown;
        missing: string;
        expect: { result?: boolean; error?: string };
      }[];
    };
    const dir = mkdtempSync(join(tmpdir(), "gh-cli-"));
    const schemeFile = join(dir, "scheme.json");
    writeFileSync(schemeFile, JSON.stringify(spec.scheme));
    const input = spec.cases
      .map((c) =>
        JSON.stringify({ expression: c.expression, fields: c.fields, missing: c.missing }),
      )
      .concat([
        "not json",
        JSON.stringify({ expression: 'http.host == "a"', fields: { "no.such.field": 1 } }),
      ])
      .join("\n");
    const r = run(["rules", "eval", "--batch", "--scheme", schemeFile], input);
    assert.equal(r.code, 0, r.err);
    const lines = r.out
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { result?: boolean; error?: { kind: string; span: number[] } });
    assert.equal(lines.length, spec.cases.length + 2);
    spec.cases.forEach((c, i) => {
      const got = lines[i]!;
      if (c.expect.error !== undefined)
        assert.equal(got.error?.kind, c.expect.error, `case ${c.id}`);
      else assert.equal(got.result, c.expect.result, `case ${c.id}`);
    });
    // Bad input lines get an error line each and do not stop the batch.
    assert.equal(lines[spec.cases.length]!.error?.kind, "InvalidInput");
    assert.equal(lines[spec.cases.length + 1]!.error?.kind, "InvalidInput");
  });
});

describe("gatehouse help and version", () => {
  test("rules --help and rules -h print the rules usage with exit 0", () => {
    for (const flag of ["--help", "-h"]) {
      const r = run(["rules", flag]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^usage:\n {2}gatehouse rules check /);
      assert.equal(r.err, "");
    }
  });

  test("--version prints the gatehouse package's version and the Node.js it runs on", () => {
    const { version } = JSON.parse(
      readFileSync(resolve(import.meta.dirname, "../package.json"), "utf8"),
    ) as { version: string };
    for (const flag of ["--version", "-V", "version"]) {
      const r = run([flag]);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, `gatehouse ${version} (Node.js ${process.version})\n`);
    }
  });
});
