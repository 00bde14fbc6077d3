// Load generator for inspected HTTPS through a proxy (run.ts --inspect); wrk cannot CONNECT.
// Each of --connections loops opens a CONNECT tunnel to host:port through the proxy, speaks
// TLS inside it (trusting only --ca: the proxy's root, so an uninspected tunnel fails) and then
//   keep-alive (default): sends GET requests one after another on that connection, 1 KiB back;
//   --handshakes: for every request a new TCP connection, CONNECT and a full TLS handshake
//     (no session resumption), one GET with `Connection: close`, then closes.
//   --handshakes --resume: the same, but every connection after a loop's first resumes the TLS
//     session of the one before (the proxy's session ticket): the resumed-handshake figure.
// --workers N spreads the loops over N worker threads (one core each where the machine has them:
// one Node thread cannot make handshakes as fast as a proxy in C serves them).
// Runs --duration seconds and prints one JSON line: requests, req/s, p50/p99 ms (keep-alive: one
// request; handshakes: connect to last byte of the answer), errors, resumed handshakes, and this
// client's own CPU (utime+stime ÷ wall time, all threads: in cores; near the cores it may use
// means the client, not the proxy, was the limit).
//   node bench/proxy/tls-load.ts --proxy-port P --host localhost --port 9443 --ca root.pem
//     [--connections 50] [--duration 8] [--handshakes [--resume]] [--workers 1]

import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { createHistogram, type RecordableHistogram } from "node:perf_hooks";
import { createSecureContext, type TLSSocket, connect as tlsConnect } from "node:tls";
import { parseArgs } from "node:util";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";

const { values } = parseArgs({
  options: {
    "proxy-port": { type: "string" },
    host: { type: "string", default: "localhost" },
    port: { type: "string" },
    ca: { type: "string" },
    connections: { type: "string", default: "50" },
    duration: { type: "string", default: "8" },
    handshakes: { type: "boolean", default: false },
    resume: { type: "boolean", default: false },
    workers: { type: "string", default: "1" },
  },
  // A worker thread gets the same argv as the main thread.
  args: isMainThread ? process.argv.slice(2) : (workerData as { argv: string[] }).argv,
});
const PROXY_PORT = Number(values["proxy-port"]);
const HOST = values.host;
const PORT = Number(values.port);
/** One context for every connection: the client's own setup is not what is measured. */
const CONTEXT = createSecureContext({ ca: readFileSync(String(values.ca)) });
const WORKERS = Math.max(1, Number(values.workers));
/** This thread's loops: the main thread's share when there are no workers, else a worker's. */
const CONNECTIONS = isMainThread
  ? WORKERS === 1
    ? Number(values.connections)
    : 0
  : (workerData as { connections: number }).connections;
const DURATION_MS = Number(values.duration) * 1000;
const HANDSHAKES = values.handshakes;
const RESUME = HANDSHAKES && values.resume;

const CONNECT_HEAD = Buffer.from(
  `CONNECT ${HOST}:${PORT} HTTP/1.1\r\nHost: ${HOST}:${PORT}\r\n\r\n`,
  "latin1",
);
const GET = Buffer.from(
  `GET /1k HTTP/1.1\r\nHost: ${HOST}:${PORT}\r\nUser-Agent: gatehouse-bench\r\n${HANDSHAKES ? "Connection: close\r\n" : ""}\r\n`,
  "latin1",
);
const HEAD_END = Buffer.from("\r\n\r\n", "latin1");

const hist = createHistogram();
let requests = 0;
let errors = 0;
let non2xx = 0;
let resumed = 0;
let measuring = true;
const t0 = performance.now();
const cpu0 = process.cpuUsage();

/** One loop: a tunnel and its TLS session, requests on it until the run ends. */
class Client {
  #raw: Socket | undefined;
  #tls: TLSSocket | undefined;
  #buf: Buffer | undefined;
  /** Response being read: its total length once the head is in, else -1. */
  #need = -1;
  #close = false;
  #status = 0;
  #start = 0;
  /** --resume: the last session this loop was given (TLS 1.3: a ticket), offered on the next. */
  #session: Buffer | undefined;

  open(): void {
    if (!measuring) return;
    this.#buf = undefined;
    this.#need = -1;
    this.#start = performance.now();
    const raw = connect(PROXY_PORT, "127.0.0.1");
    this.#raw = raw;
    raw.setNoDelay(true);
    raw.on("error", () => this.#failed(raw));
    raw.write(CONNECT_HEAD);
    let head: Buffer | undefined;
    const onHead = (c: Buffer) => {
      head = head === undefined ? c : Buffer.concat([head, c]);
      const end = head.indexOf(HEAD_END);
      if (end < 0) return;
      raw.off("data", onHead);
      raw.pause();
      if (head.toString("latin1", 0, 12).slice(9) !== "200" || end + 4 !== head.length) {
        this.#failed(raw);
        return;
      }
      this.#handshake(raw);
    };
    raw.on("data", onHead);
  }

  #handshake(raw: Socket): void {
    const tls = tlsConnect({
      socket: raw,
      servername: HOST,
      secureContext: CONTEXT,
      ALPNProtocols: ["http/1.1"],
      ...(this.#session === undefined ? {} : { session: this.#session }),
    });
    this.#tls = tls;
    if (RESUME)
      tls.on("session", (s: Buffer) => {
        this.#session = s;
      });
    tls.on("error", () => this.#failed(raw));
    tls.on("data", (c: Buffer) => {
      if (this.#raw === raw) this.#onData(c);
    });
    tls.on("end", () => {
      if (this.#need >= 0 || !this.#close) this.#failed(raw);
    });
    tls.once("secureConnect", () => {
      if (measuring && tls.isSessionReused()) resumed++;
      this.#send();
    });
  }

  #send(): void {
    if (!measuring) return;
    if (!HANDSHAKES) this.#start = performance.now();
    this.#tls?.write(GET);
  }

  #onData(c: Buffer): void {
    let buf = this.#buf === undefined ? c : Buffer.concat([this.#buf, c]);
    for (;;) {
      if (this.#need < 0) {
        const end = buf.indexOf(HEAD_END);
        if (end < 0) break;
        const head = buf.toString("latin1", 0, end).toLowerCase();
        this.#status = Number(head.slice(9, 12));
        const m = /\r\ncontent-length:[ \t]*(\d+)/.exec(head);
        if (m === null) {
          this.#failed(this.#raw); // the bench origin always sends Content-Length
          return;
        }
        this.#close = /\r\nconnection:[ \t]*close/.test(head);
        this.#need = end + 4 + Number(m[1]);
      }
      if (buf.length < this.#need) break;
      buf = buf.subarray(this.#need);
      this.#need = -1;
      this.#done();
      if (HANDSHAKES || this.#close) return;
    }
    this.#buf = buf.length === 0 ? undefined : buf;
  }

  #done(): void {
    if (measuring) {
      requests++;
      if (this.#status < 200 || this.#status > 299) non2xx++;
      hist.record(Math.max(1, Math.round((performance.now() - this.#start) * 1000)));
    }
    if (HANDSHAKES || this.#close) {
      this.#drop();
      this.open();
    } else this.#send();
  }

  #drop(): void {
    const tls = this.#tls;
    const raw = this.#raw;
    this.#tls = undefined;
    this.#raw = undefined;
    tls?.destroy();
    raw?.destroy();
  }

  /** `raw`'s connection failed; nothing to do when it is not the current one any more. */
  #failed(raw: Socket | undefined): void {
    if (raw === undefined || raw !== this.#raw) return;
    if (measuring) errors++;
    this.#drop();
    // Do not spin on a proxy that refuses: try again a little later.
    setTimeout(() => this.open(), 20);
  }

  stop(): void {
    this.#drop();
  }
}

interface Counts {
  requests: number;
  errors: number;
  non2xx: number;
  resumed: number;
  hist: RecordableHistogram;
  /** Wall time of the loops (a worker's start-up not included). */
  seconds: number;
}

/** Run this thread's loops for the duration; their counts. */
async function runLoops(): Promise<Counts> {
  const started = performance.now();
  const clients: Client[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const c = new Client();
    clients.push(c);
    c.open();
  }
  await new Promise((r) => setTimeout(r, DURATION_MS));
  measuring = false;
  for (const c of clients) c.stop();
  return { requests, errors, non2xx, resumed, hist, seconds: (performance.now() - started) / 1000 };
}

if (!isMainThread) {
  parentPort?.postMessage(await runLoops());
} else {
  let total: Counts;
  if (WORKERS === 1) total = await runLoops();
  else {
    const all = Number(values.connections);
    const parts = await Promise.all(
      Array.from({ length: WORKERS }, (_, i) => {
        const connections = Math.floor(all / WORKERS) + (i < all % WORKERS ? 1 : 0);
        const w = new Worker(new URL(import.meta.url), {
          workerData: { argv: process.argv.slice(2), connections },
        });
        return new Promise<Counts>((resolve, reject) => {
          w.once("message", (m: Counts) => {
            resolve(m);
            void w.terminate();
          });
          w.once("error", reject);
        });
      }),
    );
    total = { requests: 0, errors: 0, non2xx: 0, resumed: 0, hist, seconds: 0 };
    for (const p of parts) {
      total.seconds += p.seconds / parts.length;
      total.requests += p.requests;
      total.errors += p.errors;
      total.non2xx += p.non2xx;
      total.resumed += p.resumed;
      hist.add(p.hist);
    }
  }
  const cpu = process.cpuUsage(cpu0);
  const seconds = total.seconds;
  const ms = (p: number) => (hist.count === 0 ? 0 : hist.percentile(p) / 1000);
  process.stdout.write(
    `${JSON.stringify({
      requests: total.requests,
      seconds,
      rps: total.requests / seconds,
      p50ms: ms(50),
      p99ms: ms(99),
      errors: total.errors,
      non2xx: total.non2xx,
      resumed: total.resumed,
      clientCpu: (cpu.user + cpu.system) / 1e6 / ((performance.now() - t0) / 1000),
    })}\n`,
  );
  process.exit(0);
}
