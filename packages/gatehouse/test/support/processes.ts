// Helpers for end-to-end tests that run the real `gatehouse` command as child processes on
// loopback: free ports, waiting for output, a DNS client and a fake upstream DNS server.
import { type ChildProcess, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { resolve } from "node:path";
import dnsPacket from "dns-packet";

export const CLI = resolve(import.meta.dirname, "../../src/cli.ts");

/** A port that was free a moment ago (TCP and UDP both bound to check). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((res, rej) => {
      const s = createServer();
      s.once("error", rej);
      s.listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => res(p));
      });
    });
    const udpFree = await new Promise<boolean>((res) => {
      const u = createSocket("udp4");
      u.once("error", () => res(false));
      u.bind(port, "127.0.0.1", () => u.close(() => res(true)));
    });
    if (udpFree) return port;
  }
}

export interface Running {
  readonly child: ChildProcess;
  output(): string;
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function runCli(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return {
    child,
    output: () => out,
    async waitFor(re, ms = 60_000) {
      const end = Date.now() + ms;
      for (;;) {
        const m = re.exec(out);
        if (m) return m;
        if (child.exitCode !== null)
          throw new Error(`process exited (${child.exitCode}) before ${re}:\n${out}`);
        if (Date.now() > end) throw new Error(`timed out waiting for ${re}:\n${out}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface DnsAnswer {
  rcode: string;
  answers: { type: string; name: string; data: unknown }[];
}

export function queryDns(
  port: number,
  name: string,
  type: "A" | "AAAA" = "A",
  timeoutMs = 1000,
): Promise<DnsAnswer> {
  return new Promise((res, rej) => {
    const s = createSocket("udp4");
    const id = Math.floor(Math.random() * 65535);
    const t = setTimeout(() => {
      s.close();
      rej(new Error(`no DNS answer for ${name} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on("message", (msg) => {
      const p = dnsPacket.decode(msg);
      if (p.id !== id) return;
      clearTimeout(t);
      s.close();
      res({
        rcode: (p as { rcode?: string }).rcode ?? "NOERROR",
        answers: (p.answers ?? []).map((a) => ({
          type: a.type,
          name: a.name,
          data: (a as { data?: unknown }).data,
        })),
      });
    });
    s.send(
      dnsPacket.encode({
        id,
        type: "query",
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ name, type }],
      }),
      port,
      "127.0.0.1",
    );
  });
}

/** Poll until `fn` succeeds or the time is up; returns its last value. */
export async function eventually<T>(
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  ms: number,
): Promise<T> {
  const end = Date.now() + ms;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch (e) {
      lastErr = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `condition not met within ${ms} ms; last value ${JSON.stringify(last)} ${lastErr ?? ""}`,
  );
}

/** An upstream that answers every A query with `address` (TTL 60), counting queries. */
export async function fakeUpstream(
  address: string,
): Promise<{ port: number; queries: string[]; close(): Promise<void> }> {
  const s = createSocket("udp4");
  const queries: string[] = [];
  s.on("message", (msg, rinfo) => {
    let q: dnsPacket.Packet;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const question = q.questions?.[0];
    if (!question) return;
    queries.push(question.name);
    const answers =
      question.type === "A"
        ? [{ type: "A" as const, name: question.name, ttl: 60, data: address }]
        : [];
    s.send(
      dnsPacket.encode({
        id: q.id,
        type: "response",
        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
        questions: [question],
        answers,
      }),
      rinfo.port,
      rinfo.address,
    );
  });
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  return { port: s.address().port, queries, close: () => new Promise((r) => s.close(() => r())) };
}

export function api(base: string, token: string) {
  return async <T = unknown>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
}

export interface ControlProcess {
  proc: Running;
  port: number;
  token: string;
  call: ReturnType<typeof api>;
}

/** `gatehouse control` on a free loopback port with its data in `dataDir`: its admin token and an API caller. */
export async function startControlProcess(dataDir: string): Promise<ControlProcess> {
  const port = await freePort();
  const proc = runCli(["control", "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`]);
  const [, token] = await proc.waitFor(/admin token \(shown once, keep it\): (\S+)/);
  if (!token) throw new Error("control printed no admin token");
  return { proc, port, token, call: api(`http://127.0.0.1:${port}`, token) };
}
