// `gatehouse admin password`: through the API with an admin token (a new user, then a changed
// password), and straight in a stopped install's database (a lost password, no token); the
// password piped on stdin or generated and printed once; then signing in with it.

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, describe, it } from "node:test";
import { buildApp, startControl } from "@gatehouse/control";
import { adminCommand } from "../src/commands/admin.ts";

function io(stdin: string | "tty") {
  const out: string[] = [];
  const err: string[] = [];
  const stream =
    stdin === "tty" ? Object.assign(Readable.from([]), { isTTY: true }) : Readable.from([stdin]);
  return {
    stdin: stream,
    out: (l: string) => out.push(l),
    err: (l: string) => err.push(l),
    outs: out,
    errs: err,
  };
}

async function signIn(base: string, username: string, password: string): Promise<number> {
  const res = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  await res.text();
  return res.status;
}

describe("gatehouse admin password", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("through the API: makes a user with a piped password, then changes it to a generated one", async () => {
    const control = await startControl({ listen: "127.0.0.1:0", logger: false });
    const saved = process.env["GATEHOUSE_TOKEN"];
    try {
      assert.match(
        control.adminPassword ?? "",
        /^[A-Za-z0-9_-]{24}$/,
        "the first admin's password",
      );
      assert.equal(await signIn(control.address, "admin", control.adminPassword!), 200);
      process.env["GATEHOUSE_TOKEN"] = control.adminToken!;
      const a = io("piped password 1\n");
      const code = await adminCommand(
        ["password", "Alice", "--role", "editor", "--control", control.address],
        a,
      );
      assert.equal(code, 0, a.errs.join("\n"));
      assert.match(a.errs.join("\n"), /dashboard user alice \(editor\) created/);
      assert.deepEqual(a.outs, [], "a piped password is not printed");
      assert.equal(await signIn(control.address, "alice", "piped password 1"), 200);

      const b = io("tty");
      assert.equal(await adminCommand(["password", "alice", "--control", control.address], b), 0);
      const m = /^password \(shown once, keep it\): (\S+)$/.exec(b.outs[0] ?? "");
      assert.ok(m?.[1], b.outs.join("\n"));
      assert.equal(await signIn(control.address, "alice", "piped password 1"), 401);
      assert.equal(await signIn(control.address, "alice", m[1]), 200);

      const short = io("short\n");
      assert.equal(await adminCommand(["password", "--control", control.address], short), 1);
      delete process.env["GATEHOUSE_TOKEN"];
      const none = io("tty");
      assert.equal(await adminCommand(["password"], none), 2);
      assert.match(none.errs.join("\n"), /GATEHOUSE_TOKEN/);
    } finally {
      if (saved === undefined) delete process.env["GATEHOUSE_TOKEN"];
      else process.env["GATEHOUSE_TOKEN"] = saved;
      await control.close();
    }
  });

  it("offline, in a stopped install's data directory: resets admin's password without a token", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gh-admin-pw-"));
    dirs.push(dir);
    const dataDir = join(dir, "control", "pglite"); // gatehouse up's layout
    const first = await buildApp({ dataDir, logger: false });
    const original = first.gatehouse.adminPassword!;
    await first.close();
    const a = io("recovered password\n");
    assert.equal(await adminCommand(["password", "--data-dir", dir], a), 0, a.errs.join("\n"));
    assert.match(a.errs.join("\n"), /password of admin changed/);
    const again = await buildApp({ dataDir, logger: false });
    try {
      const login = (password: string) =>
        again.inject({
          method: "POST",
          url: "/api/v1/auth/login",
          headers: { "content-type": "application/json" },
          payload: JSON.stringify({ username: "admin", password }),
        });
      assert.equal((await login(original)).statusCode, 401);
      assert.equal((await login("recovered password")).statusCode, 200);
      assert.equal(again.gatehouse.adminPassword, undefined, "no new first admin");
    } finally {
      await again.close();
    }
  });
});
