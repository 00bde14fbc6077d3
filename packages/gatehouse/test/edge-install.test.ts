// `gatehouse edge install`: --dry-run prints the unit, the environment file (join token masked)
// and the sysusers entry it would write and the commands it would run, and writes nothing;
// --root writes exactly those files (the environment file 0600, with the token); bad input is
// refused with the reason and exit 2.
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli } from "./support/processes.ts";

const ROOT = resolve(import.meta.dirname, "../../..");
const TOKEN = "ghj_0123456789abcdef_s3cretS3cretS3cretS3cretS3cretS3cretS3c";

/** Run the CLI to its end: exit code and everything it printed. */
async function run(args: string[]): Promise<{ code: number | null; out: string }> {
  const r = runCli(args);
  let out = "";
  r.child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  r.child.stderr!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const [code] = (await once(r.child, "exit")) as [number | null];
  return { code, out };
}

describe("gatehouse edge install", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gh-edge-install-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const args = [
    "edge",
    "install",
    "--control",
    "https://control.example.internal",
    "--join-token",
    TOKEN,
    "--dns",
    "0.0.0.0:53",
    "--name",
    "rack-7",
  ];

  test("--dry-run prints the units and config it would write, the token masked, and writes nothing", async () => {
    const target = join(dir, "dry");
    const { code, out } = await run([...args, "--dry-run"]);
    assert.equal(code, 0, out);
    assert.match(out, /# would write \/etc\/systemd\/system\/gatehouse-edge\.service \(mode 644\)/);
    assert.match(out, /^\[Service\]$/m);
    // The unit runs this installation, sandboxed as shipped.
    assert.ok(out.includes(`ExecStart=${ROOT}/packages/gatehouse/bin/gatehouse edge --control`));
    assert.match(out, /^ProtectSystem=strict$/m);
    assert.match(out, /^User=gatehouse$/m);
    assert.doesNotMatch(out, /\/opt\/gatehouse/);
    assert.match(out, /# would write \/etc\/gatehouse\/edge\.env \(mode 600\)/);
    assert.match(out, /^GATEHOUSE_CONTROL=https:\/\/control\.example\.internal$/m);
    assert.match(
      out,
      /^GATEHOUSE_JOIN_TOKEN=ghj_0123456789abcdef_… \(the token given, not shown\)$/m,
    );
    assert.ok(!out.includes("s3cret"), "the secret is never printed");
    assert.match(out, /^GATEHOUSE_EDGE_NAME=rack-7$/m);
    assert.match(out, /^u gatehouse - "Gatehouse edge" \/var\/lib\/gatehouse$/m);
    assert.match(out, /# would run: systemctl enable --now gatehouse-edge\.service/);
    assert.match(out, /dry run: nothing was written/);
    // With --root too: nothing under it.
    const rooted = await run([...args, "--dry-run", "--root", target]);
    assert.equal(rooted.code, 0, rooted.out);
    await assert.rejects(readdir(target), /ENOENT/);
  });

  test("--root writes the same files (edge.env 0600 with the token) and starts nothing", async () => {
    const target = join(dir, "root");
    const { code, out } = await run([...args, "--root", target]);
    assert.equal(code, 0, out);
    assert.match(out, /not started \(--root\)/);
    const unit = await readFile(join(target, "etc/systemd/system/gatehouse-edge.service"), "utf8");
    const shipped = await readFile(join(ROOT, "deploy/systemd/gatehouse-edge.service"), "utf8");
    assert.equal(unit, shipped.split("/opt/gatehouse").join(ROOT));
    const envPath = join(target, "etc/gatehouse/edge.env");
    assert.equal((await stat(envPath)).mode & 0o777, 0o600);
    const env = await readFile(envPath, "utf8");
    assert.match(env, new RegExp(`^GATEHOUSE_JOIN_TOKEN=${TOKEN}$`, "m"));
    assert.match(env, /^GATEHOUSE_DNS=0\.0\.0\.0:53$/m);
    assert.match(env, /^GATEHOUSE_PROXY=0\.0\.0\.0:3128$/m);
    assert.match(env, /^GATEHOUSE_METRICS=127\.0\.0\.1:9153$/m);
    // Every variable the unit's ExecStart uses is set by the file or the unit.
    for (const m of unit.matchAll(/\$\{(GATEHOUSE_[A-Z_]+)\}/g))
      assert.match(env, new RegExp(`^${m[1]}=`, "m"), `${m[1]} is set`);
  });

  test("bad input: the reason, the usage, exit 2", async () => {
    for (const [bad, reason] of [
      [["edge", "install", "--join-token", TOKEN], /--control and --join-token are required/],
      [
        ["edge", "install", "--control", "ftp://x", "--join-token", TOKEN],
        /--control must be an http\(s\) URL/,
      ],
      [[...args, "--proxy", "nowhere"], /--proxy must be ADDR:PORT/],
      [
        ["edge", "install", "--control", "http://c", "--join-token", 'a"b'],
        /--join-token must be one word/,
      ],
    ] as const) {
      const { code, out } = await run([...bad, "--dry-run"]);
      assert.equal(code, 2, out);
      assert.match(out, reason);
      assert.match(out, /usage: gatehouse edge install/);
    }
  });
});
