// Configuration as code against a real `gatehouse control` on loopback: `gatehouse config test
// FILE.yaml` runs a document's policy tests (exit 0 when they pass, 1 with the failing case
// and its FILE:LINE when one fails or the document does not validate, 2 for usage).

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type ControlProcess, runCli, startControlProcess } from "./support/processes.ts";

/** Run the CLI to its end: exit code and everything it printed. */
async function gatehouse(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  const r = runCli(args, env);
  const code = await new Promise<number | null>((res) => {
    if (r.child.exitCode !== null) res(r.child.exitCode);
    else r.child.once("exit", (c) => res(c));
  });
  return { code, out: r.output() };
}

const DOC = (expectTracker: string) => `kind: gatehouse/account-config
version: 1
lists:
  - name: ads
    type: domain
    items: [ads.example.com]
locations:
  - name: Office
    networks: [192.0.2.0/24]
policies:
  - name: Block ads
    type: dns
    enabled: true
    precedence: 1
    expression: any(dns.domains[*] in $ads)
    action: block
tests:
  - name: ads from the office are blocked
    dns: { query: ads.example.com, location: Office }
    expect: { action: block, policy: Block ads }
  - name: tracker
    dns: { query: tracker.example }
    expect: { action: ${expectTracker} }
`;

describe("gatehouse config", () => {
  let dir = "";
  let control: ControlProcess;
  let env: Record<string, string>;
  let url = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-config-"));
    control = await startControlProcess(join(dir, "control"));
    url = `http://127.0.0.1:${control.port}`;
    env = { GATEHOUSE_TOKEN: control.token };
  });
  after(async () => {
    await control?.proc.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("config test exits 0 when every case passes", async () => {
    const file = join(dir, "pass.yaml");
    await writeFile(file, DOC("allow"));
    const r = await gatehouse(["config", "test", file, "--control", url], env);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /PASS ads from the office are blocked \(block by "Block ads"\)/);
    assert.match(r.out, /2 passed, 0 failed/);
  });

  it("config test exits 1 and prints the failing case with its line", async () => {
    const file = join(dir, "fail.yaml");
    await writeFile(file, DOC("block"));
    const r = await gatehouse(["config", "test", file, "--control", url], env);
    assert.equal(r.code, 1, r.out);
    assert.ok(
      r.out.includes(`FAIL ${file}:21:5: tracker: expected block, got allow (no policy matched)`),
      r.out,
    );
    assert.match(r.out, /1 passed, 1 failed/);
  });

  it("config test exits 1 with the problem's line when the document does not validate", async () => {
    const file = join(dir, "broken.yaml");
    await writeFile(file, DOC("allow").replace("any(dns.domains[*] in $ads)", "dns.fqdn =="));
    const r = await gatehouse(["config", "test", file, "--control", url], env);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`${file}:15:17: /policies/0/expression: `));
  });

  it("config without a token or with a wrong subcommand is a usage error", async () => {
    const file = join(dir, "pass.yaml");
    const noToken = await gatehouse(["config", "test", file, "--control", url], {
      GATEHOUSE_TOKEN: "",
    });
    assert.equal(noToken.code, 2, noToken.out);
    assert.match(noToken.out, /GATEHOUSE_TOKEN/);
    const wrong = await gatehouse(["config", "frobnicate"], env);
    assert.equal(wrong.code, 2, wrong.out);
  });
});
