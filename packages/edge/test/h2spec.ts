// h2spec (summerwind/h2spec 2.x; how to build it: docs/deployment.md) for the tests that check
// an HTTP/2 server of the edge with it: DoH (dns-doh-h2spec.test.ts) and the decrypted side of
// TLS inspection (proxy-tls-inspection-h2spec.test.ts). Both run h2spec with the flags of
// test/fixtures/h2spec-node20-baseline.json (`-t -k -o 2`). That baseline lists what a bare
// node:http2 server fails on Node 20, i.e. what nghttp2 inside Node fails, not the application.
// The edge runs on a newer Node whose nghttp2 may differ, so the same bare server is checked in
// the same run on this Node as the anchor: every case the edge fails must be failed by the
// baseline or by the bare node:http2 server here — anything else is the edge's own doing.
// `skip` says why when h2spec is not on PATH and $GATEHOUSE_H2SPEC is unset.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { createSecureServer } from "node:http2";
import { delimiter, join } from "node:path";
import type { TestContext } from "node:test";
import { generate } from "selfsigned";

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findH2spec(): string | undefined {
  const env = process.env.GATEHOUSE_H2SPEC;
  if (env) return executable(env) ? env : undefined;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const p = join(dir, "h2spec");
    if (dir && executable(p)) return p;
  }
  return undefined;
}

export const h2spec = findH2spec();
/** Why h2spec checks are skipped on this machine, or false when they run. */
export const skip: string | false = h2spec
  ? false
  : process.env.GATEHOUSE_H2SPEC
    ? `GATEHOUSE_H2SPEC=${process.env.GATEHOUSE_H2SPEC} is not an executable`
    : "h2spec not on PATH and GATEHOUSE_H2SPEC unset (build it as docs/deployment.md says)";

interface Baseline {
  readonly summary: string;
  readonly cases: { section: string; n: number; name: string; result: string }[];
}

const baseline: Baseline = JSON.parse(
  readFileSync(new URL("./fixtures/h2spec-node20-baseline.json", import.meta.url), "utf8"),
);

interface H2specRun {
  /** "section > … > n: name" → pass | fail | skip */
  readonly results: Map<string, "pass" | "fail" | "skip">;
  readonly summary: string;
  readonly output: string;
}

const key = (section: string, n: number | string, name: string) => `${section} > ${n}: ${name}`;

/**
 * h2spec's plain-text report: group titles indented two spaces a level, then one line a case
 * ("✔ n: name" passed, "× n: name" failed, "n: name" skipped). The progress line before each
 * result is overwritten with "\r"; the "Failures:" recap at the end repeats failed cases.
 */
function parseH2spec(output: string): H2specRun {
  const results = new Map<string, "pass" | "fail" | "skip">();
  const stack: string[] = [];
  let summary = "";
  for (const raw of output.split("\n")) {
    const line = (raw.split("\r").pop() ?? "").replace(/\x1b\[[0-9;]*m/g, "");
    const text = line.trim();
    if (/^\d+ tests, /.test(text)) summary = text;
    if (text.startsWith("Failures:")) break;
    if (text === "") continue;
    const level = (line.length - line.trimStart().length) / 2;
    const c = /^(?:(✔|×) )?(\d+): (.+)$/.exec(text);
    if (c) {
      const section = stack.slice(0, level).join(" > ");
      results.set(
        key(section, c[2]!, c[3]!),
        c[1] === "✔" ? "pass" : c[1] === "×" ? "fail" : "skip",
      );
    } else if (level === 0 || /^\d+(\.\d+)*\. /.test(text)) {
      stack.length = level;
      stack.push(text);
    }
  }
  for (const raw of output.split("\n").reverse()) {
    const text = raw.trim();
    if (/^\d+ tests, /.test(text)) {
      summary = text;
      break;
    }
  }
  return { results, summary, output };
}

function runH2spec(
  bin: string,
  port: number,
  path: string,
  host = "127.0.0.1",
): Promise<H2specRun> {
  const args = ["-h", host, "-p", String(port), "-t", "-k", "-o", "2", "-P", path];
  return new Promise((resolve) => {
    // Exit status 1 only means "some case failed": the report is read either way.
    execFile(bin, args, { timeout: 120_000, maxBuffer: 4 << 20 }, (_err, stdout, stderr) =>
      resolve(parseH2spec(`${stdout}${stderr}`)),
    );
  });
}

const failures = (r: H2specRun) =>
  new Set([...r.results].filter(([, v]) => v === "fail").map(([k]) => k));

/**
 * Run h2spec against `host`:`port` (TLS, path `path`) and against a bare node:http2 server in the same
 * run; assert the target fails no case beyond node:http2's own (the baseline's or this Node's).
 */
export async function assertNoFailuresBeyondNode(
  t: TestContext,
  what: string,
  port: number,
  path: string,
  host = "127.0.0.1",
): Promise<void> {
  const bin = h2spec!;
  const pems = await generate([{ name: "commonName", value: "localhost" }], {
    keyType: "ec",
    algorithm: "sha256",
  });
  // The anchor: node:http2 alone, answering 200 to every stream (HEAD without a body), as the
  // baseline's target did.
  const bare = createSecureServer({ cert: pems.cert, key: pems.private }, (req, res) => {
    res.writeHead(200);
    if (req.method === "HEAD") res.end();
    else res.end("ok");
  });
  await new Promise<void>((ok) => bare.listen(0, "127.0.0.1", ok));
  try {
    const barePort = (bare.address() as { port: number }).port;
    const [onTarget, onBare] = await Promise.all([
      runH2spec(bin, port, path, host),
      runH2spec(bin, barePort, "/"),
    ]);
    t.diagnostic(`${what}: ${onTarget.summary}`);
    t.diagnostic(`bare node:http2 on ${process.version}: ${onBare.summary}`);
    t.diagnostic(`baseline (Node 20): ${baseline.summary}`);
    // The report was understood: every case of the baseline shows up in both runs.
    for (const c of baseline.cases) {
      const k = key(c.section, c.n, c.name);
      assert.ok(onTarget.results.has(k), `${what} report lacks ${k}:\n${onTarget.output}`);
      assert.ok(onBare.results.has(k), `bare report lacks ${k}`);
    }
    const allowed = new Set(
      baseline.cases.filter((c) => c.result === "fail").map((c) => key(c.section, c.n, c.name)),
    );
    const runtime = [...failures(onBare)].filter((k) => !allowed.has(k));
    if (runtime.length > 0)
      t.diagnostic(`node:http2 on ${process.version} also fails: ${runtime.join("; ")}`);
    for (const k of runtime) allowed.add(k);
    const beyond = [...failures(onTarget)].filter((k) => !allowed.has(k));
    assert.deepEqual(beyond, [], `${what} fails beyond node:http2:\n${onTarget.output}`);
  } finally {
    await new Promise<void>((ok) => bare.close(() => ok()));
  }
}
