// Test helpers: a fake upstream DNS server (UDP + TCP on loopback, answers from a table, counts
// queries, can be switched off) and small clients for UDP and TCP.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createSocket, type RemoteInfo } from "node:dgram";
import { request as httpsRequest } from "node:https";
import { connect, createServer, type Server, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { ConfigBundle } from "@gatehouse/contract";
import { RRType } from "../src/dns/wire/constants.ts";
import {
  decodeMessage,
  type Edns,
  emptyMessage,
  encodeMessage,
  type Message,
  type ResourceRecord,
} from "../src/dns/wire/message.ts";

/** True when `bin` is on the PATH (tests that drive dig, kdig … skip without it). */
export function has(bin: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export interface FakeZoneEntry {
  rcode?: number;
  answers?: ResourceRecord[];
  authorities?: ResourceRecord[];
  /** Over UDP answer with TC set and no records (forces the TCP retry). */
  truncateUdp?: boolean;
  /** Answer after this many milliseconds (slow upstream). */
  delayMs?: number;
  /** Over UDP, ignore the first this-many queries for the name (lost packets). */
  dropUdp?: number;
  /** Over UDP, answer only once this settles (an upstream held back deterministically). */
  holdUdp?: Promise<void>;
  /** Over UDP, never answer (a path that loses UDP); TCP answers. */
  udpSilent?: boolean;
  /** An old server: FORMERR without OPT to any query with EDNS (RFC 6891 §7). */
  formerrOnEdns?: boolean;
  /** The question echoed in lowercase (does not keep the 0x20 letter case). */
  lowercaseEcho?: boolean;
  /** Additional-section records of the answer. */
  additionals?: ResourceRecord[];
  /** Set AA (an authoritative server's answer). */
  aa?: boolean;
  /** EDNS options the upstream puts in its OPT (EDE, NSID, …; to queries with EDNS). */
  ednsOptions?: { code: number; data: Uint8Array }[];
  /** Echo this name in the question instead of the one asked (a mismatched answer). */
  echoName?: string;
  /** Set AD (a validating upstream vouching for the data). */
  ad?: boolean;
  /**
   * A validating upstream holding bogus signatures: SERVFAIL unless the query set CD (checking
   * disabled), then the records anyway (RFC 4035 §3.2.2).
   */
  servfailUnlessCd?: boolean;
}

export interface FakeUpstream {
  readonly port: number;
  readonly address: string;
  readonly counts: Map<string, number>;
  /** When true, queries are ignored (timeouts). */
  down: boolean;
  close(): Promise<void>;
}

export function soa(zone: string, minimum: number): ResourceRecord {
  return {
    name: zone,
    type: RRType.SOA,
    class: 1,
    ttl: 300,
    data: {
      mname: `ns.${zone}`,
      rname: `host.${zone}`,
      serial: 1,
      refresh: 60,
      retry: 60,
      expire: 600,
      minimum,
    },
  };
}

export function a(name: string, ip: string, ttl = 300): ResourceRecord {
  return { name, type: RRType.A, class: 1, ttl, data: ip };
}

/**
 * A TXT answer of about 3.3 kB (30 records of 100 bytes): past 512 bytes, and past the
 * upstream's UDP answer (TC there; the edge asks again over TCP).
 */
export function bigTxt(name: string): FakeZoneEntry {
  return {
    truncateUdp: true,
    answers: Array.from({ length: 30 }, () => ({
      name,
      type: RRType.TXT,
      class: 1,
      ttl: 60,
      data: [new Uint8Array(100).fill(0x62)],
    })),
  };
}

/** List "ads" (ads.example) and a policy blocking its names: the block most DNS tests use. */
export const ADS_BLOCK = {
  lists: [{ id: "l", name: "ads", type: "domain", items: ["ads.example"] }],
  policies: [
    {
      id: "p",
      name: "Ads",
      type: "dns",
      enabled: true,
      precedence: 1,
      expression: "any(dns.domains[*] in $ads)",
      action: "block",
    },
  ],
} as const satisfies Pick<ConfigBundle, "lists" | "policies">;

/** The zone entry a query asks for, and its key. */
function entryOf(
  zone: Map<string, FakeZoneEntry>,
  query: Buffer,
): { key: string; entry: FakeZoneEntry | undefined } {
  try {
    const q = decodeMessage(query).questions[0];
    if (!q) return { key: "", entry: undefined };
    const key = `${q.name.toLowerCase()}/${q.type}`;
    return { key, entry: zone.get(key) ?? zone.get(`${q.name.toLowerCase()}/*`) };
  } catch {
    return { key: "", entry: undefined };
  }
}

/** The fake upstream's answer to `query` from `zone` (undefined: not a question, stay silent). */
export function answerFor(
  zone: Map<string, FakeZoneEntry>,
  query: Buffer,
  udp: boolean,
): Buffer | undefined {
  let q: Message;
  try {
    q = decodeMessage(query);
  } catch {
    return undefined;
  }
  const asked = q.questions[0];
  if (!asked) return undefined;
  const { entry: e } = entryOf(zone, query);
  const qq = e?.echoName
    ? { ...asked, name: e.echoName }
    : e?.lowercaseEcho
      ? { ...asked, name: asked.name.toLowerCase() }
      : asked;
  const m = emptyMessage(q.id);
  m.qr = true;
  m.rd = q.rd;
  m.ra = true;
  m.questions = [qq];
  if (e?.formerrOnEdns && q.edns) {
    m.rcode = 1;
    return encodeMessage(m);
  }
  if (q.edns)
    m.edns = {
      udpSize: 1232,
      version: 0,
      extRcode: 0,
      do: q.edns.do,
      z: 0,
      options: e?.ednsOptions ?? [],
    } satisfies Edns;
  if (!e) {
    m.rcode = 3;
    m.authorities = [soa("example", 60)];
  } else {
    const failed = e.servfailUnlessCd === true && !q.cd;
    m.rcode = failed ? 2 : (e.rcode ?? 0);
    m.cd = q.cd;
    m.aa = e.aa === true;
    m.ad = e.ad === true && !failed;
    if (udp && e.truncateUdp && !failed) m.tc = true;
    else if (!failed) {
      m.answers = (e.answers ?? []).map((r) => ({
        ...r,
        name: r.name === qq.name.toLowerCase() ? qq.name : r.name,
      }));
      m.authorities = e.authorities ?? [];
      m.additionals = e.additionals ?? [];
    }
  }
  return encodeMessage(m);
}

/**
 * Serve length-prefixed DNS (RFC 1035 §4.2.2) on a stream socket (TCP or TLS): `answer` is called
 * per message and its reply, if any, framed back.
 */
export function serveFramed(
  s: import("node:net").Socket,
  answer: (msg: Buffer) => Buffer | undefined,
): void {
  let buf = Buffer.alloc(0);
  s.on("error", () => {});
  s.on("data", (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
      buf = buf.subarray(2 + msg.length);
      const out = answer(msg);
      if (out) {
        const f = Buffer.alloc(2 + out.length);
        f.writeUInt16BE(out.length);
        out.copy(f, 2);
        s.write(f);
      }
    }
  });
}

export async function startFakeUpstream(zone: Map<string, FakeZoneEntry>): Promise<FakeUpstream> {
  const counts = new Map<string, number>();
  const count = (buf: Buffer) => {
    try {
      const q = decodeMessage(buf).questions[0];
      if (q) counts.set(q.name.toLowerCase(), (counts.get(q.name.toLowerCase()) ?? 0) + 1);
    } catch {}
  };
  const state = { down: false, closed: false };
  const sockets = new Set<import("node:net").Socket>();
  const udpSeen = new Map<string, number>();
  const onMessage = (udp: ReturnType<typeof createSocket>) => (msg: Buffer, rinfo: RemoteInfo) => {
    if (state.down) return;
    count(msg);
    const { key, entry } = entryOf(zone, msg);
    const seen = (udpSeen.get(key) ?? 0) + 1;
    udpSeen.set(key, seen);
    if (entry?.udpSilent || seen <= (entry?.dropUdp ?? 0)) return;
    const out = answerFor(zone, msg, true);
    if (!out) return;
    const send = () =>
      setTimeout(() => {
        if (!state.closed) udp.send(out, rinfo.port, rinfo.address);
      }, entry?.delayMs ?? 0);
    if (entry?.holdUdp) void entry.holdUdp.then(send);
    else send();
  };
  const onConnection = (s: import("node:net").Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    serveFramed(s, (msg) => {
      if (state.down) return undefined;
      count(msg);
      return answerFor(zone, msg, false);
    });
  };
  // UDP and TCP on one port number: the UDP port is picked by the kernel, and the same TCP
  // port may be taken (another test's connection): then both are given up and tried again.
  let udp: ReturnType<typeof createSocket> | undefined;
  let tcp: Server | undefined;
  let port = 0;
  for (let attempt = 0; !tcp; attempt++) {
    const u = createSocket("udp4");
    u.on("message", onMessage(u));
    await new Promise<void>((ok) => u.bind(0, "127.0.0.1", () => ok()));
    port = u.address().port;
    const t = createServer(onConnection);
    const err = await new Promise<NodeJS.ErrnoException | undefined>((ok) => {
      t.once("error", ok);
      t.listen(port, "127.0.0.1", () => {
        t.off("error", ok);
        ok(undefined);
      });
    });
    if (!err) {
      udp = u;
      tcp = t;
    } else {
      await new Promise<void>((ok) => u.close(() => ok()));
      if (err.code !== "EADDRINUSE" || attempt >= 20) throw err;
    }
  }
  const udpSocket = udp!;
  const tcpServer = tcp;
  return {
    port,
    address: `udp://127.0.0.1:${port}`,
    counts,
    get down() {
      return state.down;
    },
    set down(v: boolean) {
      state.down = v;
    },
    close: async () => {
      state.closed = true;
      await new Promise<void>((ok) => udpSocket.close(() => ok()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => tcpServer.close(() => ok()));
    },
  };
}

/** A port free for both UDP and TCP on 127.0.0.1 (for servers the tests spawn). */
export async function freePort(): Promise<number> {
  for (;;) {
    const u = createSocket("udp4");
    await new Promise<void>((ok) => u.bind(0, "127.0.0.1", () => ok()));
    const port = u.address().port;
    const t = createServer();
    const ok = await new Promise<boolean>((res) => {
      t.once("error", () => res(false));
      t.listen(port, "127.0.0.1", () => res(true));
    });
    await new Promise<void>((res) => u.close(() => res()));
    if (ok) {
      await new Promise<void>((res) => t.close(() => res()));
      return port;
    }
  }
}

/** The `server:` lines every unbound the tests start shares (loopback, foreground, no files). */
export function unboundServerLines(dir: string, port: number): string[] {
  return [
    "server:",
    "  interface: 127.0.0.1",
    `  port: ${port}`,
    "  do-ip6: no",
    "  do-daemonize: no",
    '  chroot: ""',
    '  username: ""',
    `  directory: "${dir}"`,
    '  pidfile: ""',
    '  logfile: ""',
    "  use-syslog: no",
    "  verbosity: 0",
    "  num-threads: 1",
  ];
}

/**
 * Start a DNS server the test spawns (nsd, unbound) in the foreground and wait until it answers
 * `probe` on `port`; its output is in the error if it exits or never answers.
 */
export async function spawnDnsServer(
  cmd: string,
  args: string[],
  port: number,
  probe: (m: Message | undefined) => boolean,
  probeName = "localhost",
): Promise<{ proc: ChildProcess; stop(): Promise<void> }> {
  const proc = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d));
  proc.stderr!.on("data", (d: Buffer) => (out += d));
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`${cmd} exited ${proc.exitCode}:\n${out}`);
    if (probe(await udpQuery(port, probeName, { timeoutMs: 200 }))) break;
    if (i > 100) {
      proc.kill("SIGTERM");
      throw new Error(`${cmd} did not answer:\n${out}`);
    }
  }
  return {
    proc,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise((ok) => proc.once("exit", ok));
      proc.kill("SIGTERM");
      await exited;
    },
  };
}

export interface QueryOptions {
  type?: number;
  edns?: boolean;
  do?: boolean;
  udpSize?: number;
  id?: number;
  /** RD (default true), CD and AD header bits. */
  rd?: boolean;
  cd?: boolean;
  ad?: boolean;
  /** EDNS options to send (with `edns`). */
  ednsOptions?: { code: number; data: Uint8Array }[];
  /** Bind the client socket to this local address (e.g. 127.0.0.2 to be an unknown client). */
  from?: string;
  timeoutMs?: number;
}

export function buildQuery(name: string, o: QueryOptions = {}): Buffer {
  const m = emptyMessage(o.id ?? Math.floor(Math.random() * 65536));
  m.rd = o.rd ?? true;
  m.cd = o.cd ?? false;
  m.ad = o.ad ?? false;
  m.questions.push({ name, type: o.type ?? RRType.A, class: 1 });
  if (o.edns !== false)
    m.edns = {
      udpSize: o.udpSize ?? 1232,
      version: 0,
      extRcode: 0,
      do: o.do ?? false,
      z: 0,
      options: o.ednsOptions ?? [],
    };
  return encodeMessage(m);
}

/** One query over DoT (RFC 7858) to the edge on loopback; resolves with the answer's bytes. */
export function dotQuery(port: number, ca: string, q: Uint8Array): Promise<Buffer> {
  return framedQuery(tlsConnect({ host: "127.0.0.1", port, ca, servername: "localhost" }), q);
}

/** One length-prefixed query on a new stream (TCP, TLS); resolves with the answer, then ends it. */
export function framedQuery(s: Socket, q: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    s.on("error", reject);
    s.on("data", (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        resolve(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        s.end();
      }
    });
    s.on("close", () => reject(new Error("closed without an answer")));
    const f = Buffer.alloc(2 + q.length);
    f.writeUInt16BE(q.length);
    f.set(q, 2);
    s.write(f);
  });
}

/** One RFC 8484 POST over HTTPS (HTTP/1.1) to the edge on loopback; resolves with the body. */
export function dohQuery(port: number, ca: string, q: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        path: "/dns-query",
        method: "POST",
        ca,
        servername: "localhost",
        headers: { "content-type": "application/dns-message", accept: "application/dns-message" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve(Buffer.concat(chunks)));
      },
    );
    req.on("error", reject);
    req.end(q);
  });
}

/** Send raw bytes over UDP; resolves with the reply or undefined on timeout. */
export function udpRaw(
  port: number,
  bytes: Uint8Array,
  o: { from?: string; timeoutMs?: number } = {},
): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    const timer = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, o.timeoutMs ?? 1500);
    s.on("message", (msg) => {
      clearTimeout(timer);
      s.close();
      resolve(msg);
    });
    s.bind(0, o.from ?? "127.0.0.1", () => s.send(bytes, port, "127.0.0.1"));
  });
}

export async function udpQuery(
  port: number,
  name: string,
  o: QueryOptions = {},
): Promise<Message | undefined> {
  const r = await udpRaw(port, buildQuery(name, o), o);
  return r ? decodeMessage(r) : undefined;
}

/** Send several framed messages on one TCP connection; collect `expect` replies. */
export function tcpExchange(
  port: number,
  messages: Uint8Array[],
  expect = messages.length,
  timeoutMs = 2000,
): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    const out: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      resolve(out);
    }, timeoutMs);
    s.on("error", reject);
    s.on("data", (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + out[out.length - 1]!.length);
      }
      if (out.length >= expect) {
        clearTimeout(timer);
        s.end();
        resolve(out);
      }
    });
    s.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
    const framed = messages.map((m) => {
      const f = Buffer.alloc(2 + m.length);
      f.writeUInt16BE(m.length);
      f.set(m, 2);
      return f;
    });
    s.write(Buffer.concat(framed));
  });
}
