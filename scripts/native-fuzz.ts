// `node scripts/native-fuzz.ts [--rounds N] [--relays N] [--seed S]`: the native addons under AddressSanitizer
// and UBSan. Builds packages/edge/native/*.c with the sanitizers into .tmp/native-asan
// (`build.ts --sanitize`, never loaded by the edge), then runs itself again with the sanitizer
// runtime preloaded into Node and drives the addons directly:
// - udp_batch's C answer path: mutated queries (every header flag, QDCOUNT 0/2+, compression
//   pointers in the question, EDNS OPT variants, huge and empty names, label bytes 0x00, 0x2e,
//   uppercase, cut and over-long datagrams) from many sources, while the batch callback stores
//   odd copies (oversized, too short, TTL 0, expired, refresh due, 0-64+ TTL fields with offsets
//   in and out of range, stored in the future, token buckets empty, bursting, infinite, NaN),
//   clears the table, leaves the hit ring undrained, and fills the known-source table past its
//   reset;
// - every function of udp_batch and tunnel_splice called with wrong argument types, missing
//   arguments, another addon's handle, closed handles and re-entrant JavaScript;
// - tunnel_splice relaying real TCP pairs (random sizes each way, half-closes, resets, aborts
//   mid-transfer, a client that stops reading).
// A sanitizer finding aborts the child with its report; exit status 0 means none was found.
// Needs a C compiler with libasan/libubsan (gcc's). Not a test: it takes about a minute.

import { execFileSync, spawnSync } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { createRequire } from "node:module";
import { connect, createServer, type Socket as NetSocket } from "node:net";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const root = resolve(import.meta.dirname, "..");
const dir = resolve(root, ".tmp/native-asan");
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};

if (!process.argv.includes("--child")) {
  execFileSync(
    process.execPath,
    [resolve(root, "packages/edge/native/build.ts"), "--sanitize", dir],
    {
      stdio: "inherit",
    },
  );
  const cc = process.env.CC ?? "cc";
  const lib = (n: string) =>
    execFileSync(cc, [`-print-file-name=${n}`], { encoding: "utf8" }).trim();
  const r = spawnSync(
    process.execPath,
    [import.meta.filename, "--child", ...process.argv.slice(2)],
    {
      stdio: "inherit",
      env: {
        ...process.env,
        LD_PRELOAD: `${lib("libasan.so")}:${lib("libubsan.so")}`,
        // Node keeps some allocations to the end on purpose: leaks are not what is looked for.
        ASAN_OPTIONS: "detect_leaks=0:abort_on_error=1",
        UBSAN_OPTIONS: "print_stacktrace=1:halt_on_error=1",
      },
    },
  );
  console.log(r.status === 0 ? "no sanitizer finding" : `child exited ${r.status ?? r.signal}`);
  process.exit(r.status ?? 1);
}

// ---- The child: runs with the sanitizer runtime preloaded ----

interface Handle {
  input: ArrayBuffer;
  output: ArrayBuffer;
  inputLengths: ArrayBuffer;
  outputLengths: ArrayBuffer;
  hitCount: ArrayBuffer;
}
type Fn = (...a: unknown[]) => unknown;
const req = createRequire(import.meta.url);
const udp = req(resolve(dir, "udp_batch.node")) as Record<string, Fn> & Record<string, number>;
const tun = req(resolve(dir, "tunnel_splice.node")) as Record<string, Fn>;
const trim = req(resolve(dir, "malloc_trim.node")) as Record<string, Fn>;
const IN_SLOT = udp.IN_SLOT as unknown as number;

let seed = arg("--seed", 0x1234567) >>> 0 || 1;
const rnd = (n: number) => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
};
const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;

function wire(name: string): number[] {
  const out: number[] = [];
  for (const l of name.split(".")) {
    if (l === "") continue;
    out.push(l.length, ...Buffer.from(l, "latin1"));
  }
  out.push(0);
  return out;
}

/** A query with the fuzzed shape: header flags, counts, name bytes, OPT. */
function query(): Buffer {
  const names = ["a.example", "Www.Example.COM", "x", "long-label-" + "q".repeat(52) + ".test"];
  let qname = wire(pick(names));
  const shape = rnd(20);
  if (shape === 0)
    qname = [0]; // the root
  else if (shape === 1)
    qname = [0xc0, 12]; // a compression pointer in the question
  else if (shape === 2) qname = [...wire("a.b"), 0xc0, 12].filter((_, i) => i !== 3);
  else if (shape === 3) {
    // Long names: past 255 octets, or just within.
    qname = [];
    const target = 240 + rnd(30);
    while (qname.length < target) {
      const l = 1 + rnd(63);
      qname.push(l, ...new Array<number>(l).fill(0x61 + rnd(26)));
    }
    qname.push(0);
  } else if (shape === 4) {
    // Odd label bytes: 0x00, '.', '\\', upper case, high bytes.
    qname = wire("abc.example");
    qname[1 + rnd(3)] = pick([0x00, 0x2e, 0x5c, 0x41, 0x5a, 0x7f, 0x80, 0xff, 0x20]);
  } else if (shape === 5) qname = [64, ...new Array<number>(64).fill(0x61), 0];
  const flags2 = rnd(8) === 0 ? rnd(256) : 0x01;
  const flags3 = rnd(4) === 0 ? rnd(256) : pick([0, 0x10, 0x20, 0x30]);
  const qd = rnd(8) === 0 ? pick([0, 2, 3, 0xffff]) : 1;
  let ar = 0;
  let opt: number[] = [];
  if (rnd(2) === 0) {
    ar = rnd(10) === 0 ? pick([2, 0x100]) : 1;
    const size = pick([0, 511, 512, 1232, 1233, 4096, 65535]);
    const ver = rnd(6) === 0 ? 1 : 0;
    const ext = rnd(8) === 0 ? 1 : 0;
    const doBit = rnd(2) ? 0x80 : 0;
    const options: number[] = [];
    for (let k = rnd(4); k > 0; k--) {
      const code = pick([3, 8, 10, 12, 15, 0xffff]);
      const len = rnd(6) === 0 ? pick([0xffff, 300]) : rnd(20);
      options.push(
        code >> 8,
        code & 255,
        len >> 8,
        len & 255,
        ...new Array<number>(Math.min(len, 20)).fill(rnd(256)),
      );
    }
    const rdlen = rnd(8) === 0 ? rnd(65536) : options.length;
    opt = [
      rnd(12) === 0 ? 1 : 0,
      0,
      41,
      size >> 8,
      size & 255,
      ext,
      ver,
      doBit,
      0,
      rdlen >> 8,
      rdlen & 255,
      ...options,
    ];
  }
  const type = rnd(6) === 0 ? rnd(65536) : pick([1, 28, 16]);
  const bytes = [
    rnd(256),
    rnd(256),
    flags2,
    flags3,
    qd >> 8,
    qd & 255,
    0,
    rnd(16) === 0 ? 1 : 0,
    0,
    rnd(16) === 0 ? 1 : 0,
    ar >> 8,
    ar & 255,
    ...qname,
    type >> 8,
    type & 255,
    0,
    rnd(10) === 0 ? 3 : 1,
    ...opt,
  ];
  let q = Buffer.from(bytes);
  const cut = rnd(16);
  if (cut === 0) q = q.subarray(0, rnd(q.length + 1));
  else if (cut === 1) q = Buffer.concat([q, Buffer.alloc(rnd(600), rnd(256))]);
  else if (cut === 2) q = Buffer.alloc(IN_SLOT + rnd(200), 0x41); // truncated by the kernel
  for (let f = rnd(10) === 0 ? rnd(4) : 0; f > 0 && q.length > 0; f--) q[rnd(q.length)] = rnd(256);
  return q;
}

/** An answer to `q` as the fast path would store it: the question, then `n` A records. */
function answer(q: Uint8Array, qend: number, n: number): { bytes: Uint8Array; ttls: number[] } {
  const head = Buffer.from(q.subarray(0, Math.min(qend, q.length)));
  if (head.length >= 4) head[2]! |= 0x80;
  if (head.length >= 8) head.writeUInt16BE(n, 6);
  const recs: number[] = [];
  const ttls: number[] = [];
  for (let k = 0; k < n; k++) {
    ttls.push(head.length + recs.length + 6, pick([0, 1, 300, 0xffffffff]));
    recs.push(0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, k & 255);
  }
  return { bytes: Buffer.concat([head, Buffer.from(recs)]), ttls };
}

/** End of the question as the C parse sees it (or the whole datagram). */
function qendOf(q: Uint8Array): number {
  let o = 12;
  while (o < q.length && q[o]! !== 0 && q[o]! < 64) o += 1 + q[o]!;
  return Math.min(o + 5, q.length);
}

async function fuzzAnswerPath(rounds: number) {
  const h = {} as Handle;
  const port = udp.open!("127.0.0.1", 0, false, h) as number;
  udp.fastEnable!(h);
  const input = new Uint8Array(h.input);
  const inLens = new Int32Array(h.inputLengths);
  const outLens = new Int32Array(h.outputLengths);
  const output = new Uint8Array(h.output);
  const hitCount = new Int32Array(h.hitCount);
  let stored = 0;
  let calls = 0;
  udp.start!(h, (count: unknown) => {
    calls++;
    if (rnd(20) !== 0) hitCount[0] = 0; // drained, mostly: sometimes the ring fills
    if (rnd(100) === 0) udp.fastClear!(h, rnd(8) !== 0); // off now and then, on again later
    for (let i = 0; i < (count as number); i++) {
      const len = inLens[i]!;
      if (len <= 0) continue;
      const q = input.subarray(i * IN_SLOT, i * IN_SLOT + len);
      const qend = qendOf(q);
      const n = rnd(10) === 0 ? pick([0, 40, 64, 65, 80]) : rnd(4);
      let { bytes, ttls } = answer(q, qend, n);
      const odd = rnd(3) === 0;
      if (odd) {
        const k = rnd(10);
        if (k === 0) bytes = bytes.subarray(0, rnd(bytes.length + 1));
        else if (k === 1) {
          const to = pick([1232, 1233, 4096, 5000]);
          bytes = Buffer.concat([bytes, Buffer.alloc(Math.max(0, to - bytes.length))]);
        } else if (k === 2) ttls = ttls.slice(0, Math.max(0, ttls.length - 1));
        else if (k === 3 && ttls.length > 0)
          ttls[0] = pick([-1, Number.NaN, bytes.length - 3, bytes.length, qend - 1, 1e12, 2.5]);
        else if (k === 4 && ttls.length > 1)
          ttls[1] = pick([-1, Number.NaN, 2 ** 32, Number.POSITIVE_INFINITY]);
      }
      const now = Date.now();
      const slot = odd && rnd(4) === 0 ? pick([-1, count as number, 64, 1e9, Number.NaN]) : i;
      const cls = odd && rnd(4) === 0 ? pick([-1, 0xffff, 0x10000]) : rnd(3);
      const storedAt = odd ? pick([now, now + 1e7, 0, -1e300, Number.NaN, 1e300]) : now - rnd(5000);
      const expires = odd
        ? pick([now - 1, now + 1, Number.POSITIVE_INFINITY, Number.NaN])
        : now + 60000;
      const refresh = odd ? pick([0, now - 1, Number.NaN, now + 1e6]) : 0;
      const tokens = pick([0, 0.5, 1, 5, 1e9, Number.POSITIVE_INFINITY]);
      const rate = pick([0, 0, 0.001, 0.05, Number.POSITIVE_INFINITY]);
      const burst = pick([0, 1, 20, 500, Number.POSITIVE_INFINITY]);
      try {
        const r = udp.fastStore!(
          h,
          slot,
          cls,
          bytes,
          ttls,
          storedAt,
          expires,
          refresh,
          tokens,
          rate,
          burst,
        );
        if ((r as number) >= 0) stored++;
      } catch {
        // A TypeError for NaN tokens and the like: what the boundary should do.
      }
      // JavaScript's own answer for the slot: sometimes a length no slot holds.
      const outLen = rnd(20) === 0 ? pick([-1, 0, 4097, 1 << 30]) : Math.min(bytes.length, 4096);
      if (outLen > 0 && outLen <= 4096) output.set(bytes.subarray(0, outLen), i * 4096);
      outLens[i] = outLen;
    }
  });
  const senders: Socket[] = [];
  for (let k = 1; k <= 8; k++) {
    const s = createSocket("udp4");
    await new Promise<void>((ok) => s.bind(0, `127.0.0.${k}`, ok));
    senders.push(s);
  }
  // Sent queries come again from the same source in later rounds, some in another letter case
  // or with the ID changed: repeats are what C answers.
  const pool: { q: Buffer; s: Socket }[] = [];
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < 48; k++) {
      if (pool.length > 0 && rnd(3) !== 0) {
        const { q, s } = pick(pool);
        const v = Buffer.from(q);
        if (rnd(2) === 0 && v.length > 13) v[13]! ^= 0x20;
        if (v.length > 1) v[1] = rnd(256);
        s.send(v, port, "127.0.0.1");
        continue;
      }
      const q = query();
      const s = pick(senders);
      s.send(q, port, "127.0.0.1");
      if (pool.length < 300) pool.push({ q, s });
      else pool[rnd(300)] = { q, s };
    }
    await sleep(2);
  }
  // The known-source table past its reset: thousands of sources, one answered query each.
  const base = Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...wire("a.example"), 0, 1, 0, 1]);
  for (let k = 0; k < 4200; k += 100) {
    const batch: Socket[] = [];
    for (let j = k; j < k + 100; j++) {
      const s = createSocket("udp4");
      await new Promise<void>((ok) => s.bind(0, `127.2.${j >> 8}.${j & 255}`, ok));
      s.send(base, port, "127.0.0.1");
      s.send(base, port, "127.0.0.1");
      batch.push(s);
    }
    await sleep(5);
    for (const s of batch) s.close();
  }
  await sleep(50);
  const stats = udp.stats!(h) as number[];
  for (const s of senders) s.close();
  udp.close!(h);
  console.log(
    `answer path: ${stats[1]} datagrams, ${stats[5]} answered in C, ${stored} copies stored, ${calls} batches for JS, ${stats[4]} truncated`,
  );
  if (!(stats[5]! > 0)) throw new Error("the C answer path was never taken");
}

function expectNoCrash(what: string, f: () => unknown) {
  try {
    f();
  } catch (e) {
    if (!(e instanceof Error)) throw new Error(`${what}: threw a non-error ${String(e)}`);
  }
}

async function tcpPair(): Promise<{ a: NetSocket; b: NetSocket; close: () => void }> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, "127.0.0.1", ok));
  const accepted = new Promise<NetSocket>((ok) => srv.once("connection", ok));
  const a = connect((srv.address() as { port: number }).port, "127.0.0.1");
  await new Promise((ok) => a.once("connect", ok));
  const b = await accepted;
  return {
    a,
    b,
    close: () => {
      a.destroy();
      b.destroy();
      srv.close();
    },
  };
}

const fdOf = (s: NetSocket) => (s as unknown as { _handle: { fd: number } })._handle.fd;

async function misuse() {
  const values: unknown[] = [
    undefined,
    null,
    0,
    -1,
    2 ** 31,
    Number.NaN,
    "x",
    {},
    [],
    () => 0,
    new Uint8Array(0),
    new Float64Array(4),
    new DataView(new ArrayBuffer(4)),
    Symbol("s"),
    10n,
  ];
  const closed = {};
  udp.open!("127.0.0.1", 0, false, closed);
  udp.fastEnable!(closed);
  udp.close!(closed);
  const live = {} as Handle;
  const port = udp.open!("127.0.0.1", 0, false, live) as number;
  const client = {};
  udp.connect!("127.0.0.1", port, client);
  // A running relay's handle, offered to udp_batch's functions (another addon's wrap).
  const p1 = await tcpPair();
  const p2 = await tcpPair();
  const relay = {};
  tun.start!(relay, fdOf(p1.b), fdOf(p2.a), () => {});
  const handles = [live, client, closed, relay, {}, null, 1];
  const names = [
    "open",
    "start",
    "sendTo",
    "connect",
    "sendMany",
    "send",
    "sendQueued",
    "stats",
    "fastEnable",
    "fastStore",
    "fastClear",
  ];
  let calls = 0;
  for (const name of names) {
    for (const hd of handles) {
      for (let k = 0; k < 40; k++) {
        const args = [hd, ...Array.from({ length: rnd(12) }, () => pick(values))];
        calls++;
        expectNoCrash(`${name}`, () => udp[name]!(...args));
      }
    }
  }
  for (const hd of handles) expectNoCrash("stats", () => tun.stats!(hd));
  for (const name of ["start", "stats", "abort"]) {
    for (let k = 0; k < 40; k++) {
      calls++;
      expectNoCrash(name, () =>
        tun[name]!(pick(handles), ...Array.from({ length: rnd(5) }, () => pick(values))),
      );
    }
  }
  expectNoCrash("trim", () => trim.trim!());
  expectNoCrash("mallinfo", () => trim.stats!(1, 2));
  // Re-entrant JavaScript inside fastStore: a TTL array whose getter closes the socket or
  // detaches the answer's buffer while the call runs.
  const h = {} as Handle;
  const p = udp.open!("127.0.0.1", 0, false, h) as number;
  udp.fastEnable!(h);
  let reentered = 0;
  udp.start!(h, (count: unknown) => {
    const inLens = new Int32Array(h.inputLengths);
    for (let i = 0; i < (count as number); i++) {
      const len = inLens[i]!;
      if (len <= 0) continue;
      const q = new Uint8Array(h.input, i * IN_SLOT, len);
      const ab = new ArrayBuffer(1232);
      const { bytes } = answer(q, qendOf(q), 3);
      const ans = new Uint8Array(ab, 0, bytes.length);
      ans.set(bytes);
      const ttls = [bytes.length - 4, 300];
      Object.defineProperty(ttls, 1, {
        get() {
          reentered++;
          ab.transfer(16); // the answer's memory is freed from here on
          return 300;
        },
      });
      expectNoCrash("re-entrant fastStore", () =>
        udp.fastStore!(h, i, 0, ans, ttls, Date.now(), Date.now() + 1e5, 0, 10, 0, 10),
      );
    }
  });
  const s = createSocket("udp4");
  const q = Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...wire("r.example"), 0, 1, 0, 1]);
  for (let k = 0; k < 4; k++) s.send(q, p, "127.0.0.1");
  await sleep(100);
  s.close();
  udp.close!(h);
  udp.close!(live);
  udp.close!(client);
  tun.abort!(relay);
  await sleep(20);
  p1.close();
  p2.close();
  console.log(`misuse: ${calls} calls with wrong arguments, ${reentered} re-entrant getters`);
}

/**
 * tunnel_splice relaying between real TCP pairs: random sizes each way, half-closes, resets,
 * aborts mid-transfer and a client that stops reading; every relay must complete once.
 */
async function relays(n: number) {
  let done = 0;
  let moved = 0;
  const errors = new Map<string, number>();
  for (let k = 0; k < n; k++) {
    const client = await tcpPair(); // client.a: the client, client.b: the proxy's side
    const origin = await tcpPair(); // origin.a: the proxy's side, origin.b: the origin
    const handle = {};
    const finished = new Promise<void>((ok) => {
      tun.start!(
        handle,
        fdOf(client.b),
        fdOf(origin.a),
        (up: unknown, down: unknown, e: unknown) => {
          done++;
          moved += (up as number) + (down as number);
          const key = String(e);
          errors.set(key, (errors.get(key) ?? 0) + 1);
          ok();
        },
      );
    });
    // Node's own sockets on the handed-over descriptors stop reading (relay.ts does the same).
    client.b.pause();
    origin.a.pause();
    const up = Buffer.alloc(rnd(300_000), 0x61);
    const down = Buffer.alloc(rnd(300_000), 0x62);
    client.a.on("data", () => {});
    origin.b.on("data", () => {});
    client.a.on("error", () => {});
    origin.b.on("error", () => {});
    client.a.write(up);
    origin.b.write(down);
    if (rnd(3) === 0) client.a.pause(); // a client that stops reading
    const end = rnd(6);
    await sleep(rnd(20));
    if (end === 0) tun.abort!(handle);
    else if (end === 1) client.a.resetAndDestroy();
    else if (end === 2) origin.b.resetAndDestroy();
    else {
      client.a.end();
      origin.b.end();
      client.a.resume();
    }
    expectNoCrash("stats while relaying", () => tun.stats!(handle));
    const timer = setTimeout(() => tun.abort!(handle), 2000);
    await finished;
    clearTimeout(timer);
    expectNoCrash("stats after", () => tun.stats!(handle));
    expectNoCrash("abort after", () => tun.abort!(handle));
    client.close();
    origin.close();
  }
  if (done !== n) throw new Error(`${n} relays, ${done} completed`);
  console.log(
    `relays: ${n} completed, ${moved} bytes, ends ${JSON.stringify(Object.fromEntries(errors))}`,
  );
}

await misuse();
await relays(arg("--relays", 60));
await fuzzAnswerPath(arg("--rounds", 300));
