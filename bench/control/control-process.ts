// A `gatehouse control` in its own process for the benchmarks that need one (bench/sync,
// bench/control/soak.ts): PGlite and DuckDB in `dataDir`, on a free loopback port, the admin
// token read from its banner, and a JSON API caller with that token.

import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { resolve } from "node:path";

export interface ControlProcess {
  readonly child: ChildProcess;
  readonly base: string;
  readonly token: string;
  call<T>(method: string, path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

export async function startControlProcess(opts: {
  dataDir: string;
  /** Node options before the script, e.g. `--import` a probe. */
  nodeArgs?: readonly string[];
  env?: NodeJS.ProcessEnv;
}): Promise<ControlProcess> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [
      ...(opts.nodeArgs ?? []),
      resolve(import.meta.dirname, "../../packages/gatehouse/src/cli.ts"),
      "control",
      "--data-dir",
      opts.dataDir,
      "--listen",
      `127.0.0.1:${port}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"], env: opts.env ?? process.env },
  );
  // Never leave the child behind when the benchmark fails or is stopped (it would also keep
  // holding an inherited `flock` on the benchmark lock).
  process.on("exit", () => child.kill("SIGTERM"));
  for (const sig of ["SIGINT", "SIGTERM"] as const)
    process.once(sig, () => {
      child.kill("SIGTERM");
      process.exit(130);
    });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => {
    // The banner and the last few KB of log lines (for a crash report), not everything.
    err = (err + d.toString()).slice(-16_384);
  });
  const token = await new Promise<string>((res, rej) => {
    const t = setInterval(() => {
      const m = /admin token \(shown once, keep it\): (\S+)/.exec(err);
      if (m) {
        clearInterval(t);
        res(m[1]!);
      } else if (child.exitCode !== null) {
        clearInterval(t);
        rej(new Error(err));
      }
    }, 20);
  });
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    const text = await r.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }
  return {
    child,
    base,
    token,
    call,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    },
  };
}
