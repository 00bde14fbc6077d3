// The tunnel relay (proxy/relay.ts) both ways it runs: spliced by the kernel through the addon
// (native/tunnel_splice.c) and read and written by Node (GATEHOUSE_TUNNEL_SPLICE=0). Same
// tests for both: large transfers each way at once with their hashes checked, the client's
// end passed on while the origin still answers, resets from either side, the idle timeout,
// the proxy shutting down mid-transfer, many tunnels at once, and no descriptor left behind.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { readdirSync, readlinkSync } from "node:fs";
import {
  type AddressInfo,
  createServer,
  connect as netConnect,
  type Server,
  type Socket,
} from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { spliceAddon } from "../src/proxy/relay.ts";
import {
  bundle,
  type Harness,
  logMark,
  recordAfter,
  startHarness,
  until,
} from "./proxy-harness.ts";

const lib = spliceAddon();
const requireNative = process.env.GATEHOUSE_REQUIRE_NATIVE === "1";
const nativeSkip =
  lib || requireNative
    ? false
    : "tunnel_splice addon not built (no C compiler at install time): tunnels are relayed in JavaScript";

test("the tunnel splice addon is built where CI requires it", {
  skip: !requireNative && "GATEHOUSE_REQUIRE_NATIVE is not set",
}, () => {
  assert.ok(lib, "npm install builds packages/edge/native/build/tunnel_splice.node");
});

/** A stream of bytes that is not periodic at any chunk size a socket would use. */
const PATTERN = randomBytes(1024 * 1024 + 7);

/** `n` bytes of the pattern stream, starting at `offset`, in pieces of up to 256 KiB. */
function* streamOf(n: number, offset = 0): Generator<Buffer> {
  let pos = offset % PATTERN.length;
  for (let left = n; left > 0; ) {
    const len = Math.min(left, 256 * 1024, PATTERN.length - pos);
    yield PATTERN.subarray(pos, pos + len);
    left -= len;
    pos = (pos + len) % PATTERN.length;
  }
}

function hashOf(n: number, offset = 0): string {
  const h = createHash("sha256");
  for (const c of streamOf(n, offset)) h.update(c);
  return h.digest("hex");
}

/** Resolves at the socket's next "drain", or once it is closed. */
function drained(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      s.off("drain", done);
      s.off("close", done);
      resolve();
    };
    s.on("drain", done);
    s.on("close", done);
  });
}

/** Resolves once the socket closed (an error on the way does not reject). */
function closedP(s: Socket): Promise<void> {
  return s.closed ? Promise.resolve() : new Promise((resolve) => s.once("close", () => resolve()));
}

/** Resolves once the peer ended (our test clients keep half-open sockets) or the socket closed. */
function endedP(s: Socket): Promise<void> {
  if (s.closed || s.readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    s.once("end", () => resolve());
    s.once("close", () => resolve());
  });
}

/** Write every chunk with backpressure; resolves once the last one was taken. */
async function writeAll(s: Socket, chunks: Iterable<Buffer>): Promise<void> {
  for (const c of chunks) {
    if (s.destroyed) return;
    if (!s.write(c)) await drained(s);
  }
}

/**
 * The origin. A connection's first line says what to do (after an upgrade request, if it
 * starts with one: that is answered 101 first):
 * - `XFER <down> <offset>`: send <down> bytes of the pattern from <offset> at once, hash what
 *   arrives after the line; at the client's end, answer `HASH <sha256> <count>` and end.
 * - `HOLD`: read and discard, send nothing, end when the client ends (idle, shutdown and
 *   reset tests).
 * - `RESET`: reset the connection once 64 KiB arrived.
 * - `BYE`: send `bye\n` and end at once, then keep reading; at the client's end, the hash and
 *   count of what arrived after the line go to `afterBye`.
 */
interface TestOrigin {
  server: Server;
  port: number;
  /** Connections accepted, and those closed. */
  accepted: number;
  closed: number;
  sockets: Set<Socket>;
  afterBye: { hash: string; count: number }[];
}

async function startTestOrigin(): Promise<TestOrigin> {
  const o = {
    accepted: 0,
    closed: 0,
    sockets: new Set<Socket>(),
    afterBye: [],
  } as unknown as TestOrigin;
  o.server = createServer({ allowHalfOpen: true }, (s) => {
    o.accepted++;
    o.sockets.add(s);
    s.on("error", () => {});
    s.once("close", () => {
      o.closed++;
      o.sockets.delete(s);
    });
    let buf: Buffer = Buffer.alloc(0);
    let upgraded = false;
    const onHead = (c: Buffer) => {
      buf = buf.length === 0 ? c : Buffer.concat([buf, c]);
      if (!upgraded && buf.subarray(0, 4).toString("latin1") === "GET ") {
        // An upgrade request (through the proxy's HTTP side): switch, then the same commands.
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        upgraded = true;
        s.write(
          "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: testproto\r\n\r\n",
        );
        buf = buf.subarray(end + 4);
      }
      const i = buf.indexOf(10);
      if (i < 0) return;
      const line = buf.subarray(0, i).toString("latin1");
      const pending = buf.subarray(i + 1);
      s.off("data", onHead);
      const [cmd, a = "0", b = "0"] = line.split(" ");
      if (cmd === "XFER") xfer(s, Number(a), Number(b), pending);
      else if (cmd === "HOLD") {
        s.resume();
        s.once("end", () => s.end());
      } else if (cmd === "RESET") {
        let got = pending.length;
        s.on("data", (d: Buffer) => {
          got += d.length;
          if (got >= 64 * 1024) s.resetAndDestroy();
        });
      } else if (cmd === "BYE") {
        s.end("bye\n");
        const h = createHash("sha256").update(pending);
        let count = pending.length;
        s.on("data", (d: Buffer) => {
          h.update(d);
          count += d.length;
        });
        s.once("end", () => o.afterBye.push({ hash: h.digest("hex"), count }));
      } else s.destroy();
    };
    s.on("data", onHead);
  });
  o.server.listen(0, "127.0.0.1");
  await once(o.server, "listening");
  o.port = (o.server.address() as AddressInfo).port;
  return o;
}

function xfer(s: Socket, down: number, offset: number, head: Buffer): void {
  const h = createHash("sha256");
  let count = 0;
  const take = (c: Buffer) => {
    h.update(c);
    count += c.length;
  };
  take(head);
  s.on("data", take);
  const sent = writeAll(s, streamOf(down, offset));
  s.once("end", async () => {
    await sent;
    s.end(`HASH ${h.digest("hex")} ${count}\n`);
  });
}

/**
 * Send `request` to the proxy; resolves once a response head matching `status` arrived, with
 * the socket (paused) and the head's length. Nothing may follow the head: the origin waits for
 * the client's command line.
 */
async function openVia(proxyPort: number, request: string, status: RegExp) {
  const s = netConnect({ port: proxyPort, host: "127.0.0.1", allowHalfOpen: true });
  s.on("error", () => {});
  s.write(request);
  let head = Buffer.alloc(0);
  while (head.indexOf("\r\n\r\n") < 0) {
    const [c] = (await once(s, "data")) as [Buffer];
    head = Buffer.concat([head, c]);
  }
  s.pause();
  const end = head.indexOf("\r\n\r\n") + 4;
  assert.match(head.subarray(0, end).toString("latin1"), status);
  assert.equal(head.length, end);
  return { socket: s, requestBytes: request.length, responseBytes: end };
}

/** Open a CONNECT tunnel through the proxy; resolves once the 200 arrived. */
async function openTunnel(proxyPort: number, originPort: number): Promise<Socket> {
  const authority = `127.0.0.1:${originPort}`;
  const request = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;
  return (await openVia(proxyPort, request, /^HTTP\/1\.1 200 /)).socket;
}

/** Upgrade to `testproto` through the proxy; resolves once the 101 arrived. */
function openUpgrade(proxyPort: number, originPort: number) {
  const authority = `127.0.0.1:${originPort}`;
  const request =
    `GET http://${authority}/up HTTP/1.1\r\nHost: ${authority}\r\n` +
    "Connection: Upgrade\r\nUpgrade: testproto\r\n\r\n";
  return openVia(proxyPort, request, /^HTTP\/1\.1 101 /);
}

interface XferResult {
  downHash: string;
  downCount: number;
  trailer: string;
  ended: boolean;
}

/**
 * Through an open tunnel: send `up` bytes (pattern from `offset`) after the command line and
 * end; the origin sends `down` bytes back at the same time and, after our end, its hash of
 * what it got. Resolves when the tunnel ends.
 */
async function transfer(
  s: Socket,
  up: number,
  down: number,
  offset: number,
  onDown?: (count: number) => void,
): Promise<XferResult> {
  const h = createHash("sha256");
  let count = 0;
  let tail = Buffer.alloc(0);
  s.on("data", (c: Buffer) => {
    onDown?.(count);
    // The first `down` bytes are data, the rest the origin's trailer.
    const data = c.subarray(0, Math.max(0, down - count));
    h.update(data);
    count += data.length;
    if (data.length < c.length) tail = Buffer.concat([tail, c.subarray(data.length)]);
  });
  const ended = new Promise<boolean>((resolve) => {
    s.once("end", () => resolve(true));
    s.once("close", () => resolve(false));
  });
  s.resume();
  s.write(`XFER ${down} ${offset + 13}\n`);
  await writeAll(s, streamOf(up, offset));
  s.end();
  const e = await ended;
  s.destroy();
  return {
    downHash: h.digest("hex"),
    downCount: count,
    trailer: tail.toString("latin1"),
    ended: e,
  };
}

/**
 * Both ways arrived whole and in order: what came down, and the origin's hash of what went up
 * (sent after the client's end reached it, after every byte: half-close in order).
 */
function assertWhole(r: XferResult, up: number, down: number, offset: number, what = ""): void {
  assert.equal(r.downCount, down, what);
  assert.equal(r.downHash, hashOf(down, offset + 13), what);
  assert.equal(r.trailer, `HASH ${hashOf(up, offset)} ${up}\n`, what);
}

/** Descriptors this process holds, by kind: pipes and sockets. */
function fds(): { pipes: number; sockets: number } {
  let pipes = 0;
  let sockets = 0;
  for (const name of readdirSync("/proc/self/fd")) {
    let link: string;
    try {
      link = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // the descriptor readdir itself used
    }
    if (link.startsWith("pipe:")) pipes++;
    else if (link.startsWith("socket:")) sockets++;
  }
  return { pipes, sockets };
}

/** `p`, or a rejection once `ms` passed without it settling. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function activeTunnels(h: Harness): Promise<number> {
  const m = h.registry.getSingleMetric("gatehouse_proxy_active_tunnels")!;
  return (await m.get()).values[0]?.value ?? 0;
}

/** The active-tunnels gauge back to zero within `ms` (tunnels close asynchronously). */
async function noActiveTunnels(h: Harness, ms = 5000): Promise<void> {
  const t0 = Date.now();
  let n = await activeTunnels(h);
  while (n !== 0 && Date.now() - t0 < ms) {
    await new Promise((r) => setTimeout(r, 10));
    n = await activeTunnels(h);
  }
  assert.equal(n, 0, "active tunnels");
}

async function bytesMetric(h: Harness): Promise<{ up: number; down: number }> {
  const s = await h.registry.getSingleMetricAsString("gatehouse_proxy_bytes_total");
  const get = (d: string) => Number(new RegExp(`direction="${d}"} (\\d+)`).exec(s)?.[1] ?? 0);
  return { up: get("up"), down: get("down") };
}

/** The tunnel's record and the bytes metric both count `up` and `down` bytes; none open. */
async function assertCounted(
  h: Harness,
  before: { up: number; down: number },
  rec: { bytesUp?: number; bytesDown?: number },
  up: number,
  down: number,
): Promise<void> {
  assert.equal(rec.bytesUp, up);
  assert.equal(rec.bytesDown, down);
  const after = await bytesMetric(h);
  assert.equal(after.up - before.up, up);
  assert.equal(after.down - before.down, down);
  await noActiveTunnels(h);
}

test("out of descriptors for the splice relay: Node relays the tunnel instead", {
  skip: nativeSkip,
}, () => {
  // The child leaves a handful of descriptors free: enough to accept and dial, not enough for
  // the relay's duplicates and pipes (it needs six more).
  const child = join(import.meta.dirname, "tunnel-out-of-fds.ts");
  const env = { ...process.env };
  delete env.GATEHOUSE_TUNNEL_SPLICE;
  for (const free of [7, 8]) {
    const out = execFileSync(
      "sh",
      ["-c", 'ulimit -n 256 && exec "$0" "$1" "$2"', process.execPath, child, String(free)],
      { encoding: "utf8", env, timeout: 30_000 },
    );
    const r = JSON.parse(out.trim().split("\n").at(-1)!) as {
      got: string;
      pipesBefore: number;
      pipesDuring: number;
      record: { action: string; bytesUp: number; bytesDown: number };
    };
    assert.equal(r.got, "HTTP/1.1 200 Connection Established\r\n\r\necho me\n", `free ${free}`);
    assert.equal(r.pipesDuring, r.pipesBefore, "no splice pipes: Node relayed it");
    assert.equal(r.record.action, "allow");
    assert.equal(r.record.bytesUp, 8);
    assert.equal(r.record.bytesDown, 8);
  }
});

for (const mode of ["splice", "node"] as const) {
  describe(`tunnel relay (${mode})`, { skip: mode === "splice" && nativeSkip }, () => {
    let origin: TestOrigin;
    let h: Harness;
    const saved = process.env.GATEHOUSE_TUNNEL_SPLICE;
    const IDLE_MS = 600;
    before(async () => {
      if (mode === "node") process.env.GATEHOUSE_TUNNEL_SPLICE = "0";
      else delete process.env.GATEHOUSE_TUNNEL_SPLICE;
      origin = await startTestOrigin();
      h = await startHarness(bundle({ proxy: { connectPorts: [origin.port] } }), {
        upstreamIdleTimeoutMs: IDLE_MS,
      });
    });
    after(async () => {
      await h.close();
      origin.server.close();
      if (saved === undefined) delete process.env.GATEHOUSE_TUNNEL_SPLICE;
      else process.env.GATEHOUSE_TUNNEL_SPLICE = saved;
    });

    /** Through a fresh connection: a transfer checked whole, and the record it left. */
    async function checkedTransfer(open: () => Promise<Socket>, up: number, down: number) {
      const before = await bytesMetric(h);
      const mark = logMark(h);
      const offset = up % 1000;
      const r = await transfer(await open(), up, down, offset);
      assertWhole(r, up, down, offset);
      const rec = await recordAfter(h, mark);
      return { r, rec, before, line: `XFER ${down} ${offset + 13}\n`.length };
    }

    test("large transfers both ways at once arrive whole and in order; the log and metrics count them", async () => {
      const UP = 24 * 1024 * 1024 + 3;
      const DOWN = 16 * 1024 * 1024 + 5;
      const t = await checkedTransfer(() => openTunnel(h.port, origin.port), UP, DOWN);
      assert.ok(t.r.ended, "the tunnel ended with a FIN, not a reset");
      assert.equal(t.rec.reason, undefined);
      await until(() => origin.closed === origin.accepted);
      await assertCounted(h, t.before, t.rec, UP + t.line, DOWN + t.r.trailer.length);
    });

    test("a stall of the proxy's process longer than the idle timeout does not cut a busy tunnel", async () => {
      // The proxy runs in this process: blocking it in the middle of a transfer is the stall a
      // starved or pausing process has. Bytes wait in the kernel meanwhile; none is idle.
      const UP = 6 * 1024 * 1024 + 1;
      const DOWN = 6 * 1024 * 1024 + 3;
      const mark = logMark(h);
      let stalled = false;
      const stall = (count: number) => {
        if (stalled || count < 1024 * 1024) return;
        stalled = true;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2 * IDLE_MS);
      };
      const r = await transfer(await openTunnel(h.port, origin.port), UP, DOWN, 5, stall);
      assert.ok(stalled);
      assertWhole(r, UP, DOWN, 5);
      assert.ok(r.ended, "the tunnel ended with a FIN, not a reset");
      assert.equal((await recordAfter(h, mark)).reason, undefined);
      await noActiveTunnels(h);
    });

    test("an upgraded connection: large transfers both ways, in order, every byte counted", async () => {
      const UP = 8 * 1024 * 1024 + 11;
      const DOWN = 6 * 1024 * 1024 + 13;
      let heads = { requestBytes: 0, responseBytes: 0 };
      const open = async () => {
        const u = await openUpgrade(h.port, origin.port);
        heads = u;
        return u.socket;
      };
      const t = await checkedTransfer(open, UP, DOWN);
      assert.equal(t.rec.status, 101);
      // Wire bytes on the client's connection: the request and response heads included.
      const up = heads.requestBytes + t.line + UP;
      const down = heads.responseBytes + DOWN + t.r.trailer.length;
      await assertCounted(h, t.before, t.rec, up, down);
    });

    test(`the relay runs ${mode === "splice" ? "in the kernel (a pipe per direction)" : "in Node (no pipes)"}`, async () => {
      const pipes0 = fds().pipes;
      const s = await openTunnel(h.port, origin.port);
      s.write("HOLD\n");
      await until(() => origin.sockets.size > 0);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(fds().pipes - pipes0, mode === "splice" ? 4 : 0);
      s.destroy();
      await until(() => origin.sockets.size === 0);
    });

    test("the origin ends first: the client still gets everything through, then its end closes the tunnel", async () => {
      const s = await openTunnel(h.port, origin.port);
      let got = "";
      s.on("data", (c: Buffer) => {
        got += c.toString("latin1");
      });
      const ended = endedP(s);
      s.resume();
      s.write("BYE\n");
      await within(ended, 3000, "the origin's end reaching the client");
      assert.equal(got, "bye\n");
      const n = origin.afterBye.length;
      // Half-closed: the other way still carries bytes.
      const MORE = 3 * 1024 * 1024 + 1;
      await writeAll(s, streamOf(MORE, 77));
      s.end();
      await until(() => origin.afterBye.length > n);
      assert.deepEqual(origin.afterBye[n], { hash: hashOf(MORE, 77), count: MORE });
      await within(closedP(s), 3000, "the tunnel closing");
      await until(() => origin.sockets.size === 0);
      await noActiveTunnels(h);
    });

    for (const side of ["client", "origin"] as const) {
      test(`a reset from the ${side} mid-transfer closes both sides`, async () => {
        const mark = logMark(h);
        const s = await openTunnel(h.port, origin.port);
        const closed = endedP(s);
        if (side === "client") {
          s.write("HOLD\n");
          await writeAll(s, streamOf(1024 * 1024));
          await until(() => origin.sockets.size > 0);
          const [o] = [...origin.sockets];
          const originClosed = closedP(o!);
          s.resetAndDestroy();
          await originClosed;
        } else {
          s.write("RESET\n");
          s.resume();
          await writeAll(s, streamOf(4 * 1024 * 1024));
          await closed;
        }
        await until(() => origin.sockets.size === 0);
        assert.equal((await recordAfter(h, mark)).transport, "connect");
        s.destroy();
        await noActiveTunnels(h);
      });
    }

    test("an idle tunnel is closed after the idle timeout; a busy one is not", async () => {
      const busy = await openTunnel(h.port, origin.port);
      busy.write("HOLD\n");
      const idle = await openTunnel(h.port, origin.port);
      idle.write("HOLD\n");
      const t0 = Date.now();
      const idleClosed = endedP(idle);
      let busyClosed = false;
      busy.once("end", () => {
        busyClosed = true;
      });
      // The busy one sends something every 150 ms for twice the timeout.
      for (let i = 0; i < 9; i++) {
        await new Promise((r) => setTimeout(r, 150));
        busy.write(`tick ${i}\n`);
      }
      await within(idleClosed, 3000, "the idle tunnel closing");
      const took = Date.now() - t0;
      assert.ok(took >= IDLE_MS - 20, `closed after ${took} ms`);
      assert.ok(took < IDLE_MS + 1000, `closed after ${took} ms`);
      assert.equal(busyClosed, false, "the busy tunnel is still open");
      await until(() => h.log.peekNewest(1)[0]?.reason === "upstream_timeout");
      busy.destroy();
      await until(() => origin.sockets.size === 0);
    });

    test("many tunnels at once each carry their own bytes", async () => {
      const N = 40;
      const results = await Promise.all(
        Array.from({ length: N }, async (_, i) => {
          const s = await openTunnel(h.port, origin.port);
          return transfer(s, 512 * 1024 + i, 256 * 1024 + i, i * 1009);
        }),
      );
      results.forEach((r, i) => {
        assertWhole(r, 512 * 1024 + i, 256 * 1024 + i, i * 1009, `tunnel ${i}`);
      });
      await until(() => origin.sockets.size === 0);
      await noActiveTunnels(h);
    });

    test("no descriptor or pipe is left behind, whatever ended the tunnels", async () => {
      await until(() => origin.sockets.size === 0);
      await new Promise((r) => setTimeout(r, 50));
      const before = fds();
      const runs: Promise<unknown>[] = [];
      for (let i = 0; i < 6; i++) {
        runs.push(openTunnel(h.port, origin.port).then((s) => transfer(s, 300_000, 200_000, i)));
        runs.push(
          openTunnel(h.port, origin.port).then(async (s) => {
            s.write("HOLD\n");
            await new Promise((r) => setTimeout(r, 30));
            s.resetAndDestroy();
          }),
        );
        runs.push(
          openTunnel(h.port, origin.port).then(async (s) => {
            s.write("RESET\n");
            s.resume();
            await writeAll(s, streamOf(256 * 1024));
            await endedP(s);
            s.destroy();
          }),
        );
      }
      await Promise.all(runs);
      await until(() => origin.sockets.size === 0);
      await until(
        () => {
          const now = fds();
          return now.pipes === before.pipes && now.sockets === before.sockets;
        },
        "the descriptors to be released",
        3000,
      ).catch(() => {});
      assert.deepEqual(fds(), before);
      await noActiveTunnels(h);
    });
  });

  describe(`tunnel relay (${mode}): the proxy shutting down`, {
    skip: mode === "splice" && nativeSkip,
  }, () => {
    let origin: TestOrigin;
    const saved = process.env.GATEHOUSE_TUNNEL_SPLICE;
    before(async () => {
      if (mode === "node") process.env.GATEHOUSE_TUNNEL_SPLICE = "0";
      else delete process.env.GATEHOUSE_TUNNEL_SPLICE;
      origin = await startTestOrigin();
    });
    after(() => {
      origin.server.close();
      if (saved === undefined) delete process.env.GATEHOUSE_TUNNEL_SPLICE;
      else process.env.GATEHOUSE_TUNNEL_SPLICE = saved;
    });

    test("close(grace) cuts tunnels still transferring after the grace", async () => {
      const h = await startHarness(bundle({ proxy: { connectPorts: [origin.port] } }));
      const before = fds();
      const s = await openTunnel(h.port, origin.port);
      s.write("HOLD\n");
      s.resume();
      let stop = false;
      const closed = endedP(s);
      const pump = (async () => {
        while (!stop && !s.destroyed) await writeAll(s, streamOf(1024 * 1024));
      })();
      await until(() => origin.sockets.size > 0);
      await new Promise((r) => setTimeout(r, 100));
      const t0 = Date.now();
      await within(h.close(), 3000, "close()"); // grace 0
      await within(closed, 3000, "the client's tunnel closing");
      stop = true;
      await pump;
      assert.ok(Date.now() - t0 < 2000, "cut at once");
      await until(() => origin.sockets.size === 0);
      assert.ok(((await recordAfter(h, 0)).bytesUp ?? 0) > 0);
      await noActiveTunnels(h);
      await new Promise((r) => setTimeout(r, 50));
      // The proxy's listener is gone too: at most as many descriptors as before it.
      const after = fds();
      assert.ok(after.pipes <= before.pipes, `pipes ${before.pipes} -> ${after.pipes}`);
      assert.ok(after.sockets < before.sockets, `sockets ${before.sockets} -> ${after.sockets}`);
    });
  });
}
