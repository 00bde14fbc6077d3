// Issue 17 "Serve the network safely": a port that is taken never kills `gatehouse up`. A default
// port that is taken falls back to a free one with a line saying so; a port given with a flag is
// never changed — taken, it is a one-line error naming the port and the flag.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { eventually, freePort, runCli } from "./support/processes.ts";

const dirs: string[] = [];
const holders: Server[] = [];
after(async () => {
  for (const h of holders) h.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Hold 127.0.0.1:port. When another program already holds it, it is just as taken. */
async function occupy(port: number): Promise<void> {
  const s = createServer();
  await new Promise<void>((res) => {
    s.once("error", () => res());
    s.listen({ host: "127.0.0.1", port, exclusive: true }, () => {
      holders.push(s);
      res();
    });
  });
}

async function dataDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "gh-up-ports-"));
  dirs.push(d);
  return d;
}

function proxyStatus(port: number): Promise<number> {
  // The PAC file is served by the proxy itself: an answer proves the proxy listens there.
  return new Promise((res, rej) => {
    const req = request({ host: "127.0.0.1", port, path: "/proxy.pac" }, (r) => {
      r.resume();
      r.on("end", () => res(r.statusCode ?? 0));
    });
    req.on("error", rej);
    req.end();
  });
}

test("the default proxy port taken: up starts, says which port it used and the flag, and serves the proxy there", async () => {
  await occupy(3128);
  const up = runCli([
    "up",
    "--data-dir",
    await dataDir(),
    "--dns",
    `127.0.0.1:${await freePort()}`,
    "--api",
    `127.0.0.1:${await freePort()}`,
    "--metrics",
    `127.0.0.1:${await freePort()}`,
  ]);
  try {
    await up.waitFor(/Ctrl-C stops everything/);
    const out = up.output();
    const [, port] = /HTTP proxy\s+127\.0\.0\.1:(\d+)/.exec(out) ?? [];
    assert.ok(port, out);
    assert.notEqual(port, "3128");
    assert.match(
      out,
      new RegExp(
        `127\\.0\\.0\\.1:3128 is taken by another program: using 127\\.0\\.0\\.1:${port} for the HTTP proxy instead \\(choose one with --proxy ADDR:PORT\\)`,
      ),
    );
    assert.match(out, /Gatehouse is running on loopback only \(127\.0\.0\.1\): only this machine/);
    assert.doesNotMatch(out, /EADDRINUSE/);
    // 200 for a client in the starter location (loopback is in it) once the edge has its config.
    assert.equal(
      await eventually(
        () => proxyStatus(Number(port)),
        (s) => s === 200,
        10_000,
      ),
      200,
    );
  } finally {
    assert.equal(await up.stop("SIGINT"), 0);
  }
});

test("a port given with --proxy that is taken: one line naming the port and the flag, exit ≠ 0", async () => {
  const port = await freePort();
  await occupy(port);
  const up = runCli(["up", "--data-dir", await dataDir(), "--proxy", `127.0.0.1:${port}`]);
  const code = await up.stop("SIGCONT");
  const out = up.output().trim();
  assert.notEqual(code, 0);
  assert.equal(
    out,
    `gatehouse: 127.0.0.1:${port} for the HTTP proxy (--proxy) is taken by another program; choose another port with --proxy ADDR:PORT`,
  );
});
