// Start and stop a throwaway ClickHouse server on loopback for tests and benchmarks.
// CLICKHOUSE_URL wins when set (CI may run a shared server); otherwise, when the Debian
// package's binary exists, a server is started with a generated config in a temp directory
// and killed (and its directory removed) at the end. ClickHouse cannot report an OS-chosen
// port, so free ports are found by binding port 0 first, and start-up is retried on a clash.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BINARIES = ["/usr/bin/clickhouse-server", "/usr/sbin/clickhouse-server"];

export interface ClickHouseServer {
  url: string;
  /** Why ClickHouse is unavailable (then `url` is empty). */
  skip?: string;
  stop(): Promise<void>;
}

function serverBinary(): string | undefined {
  return BINARIES.find((b) => existsSync(b));
}

/** The reason ClickHouse tests cannot run here, or undefined when they can. */
export function clickHouseSkipReason(): string | undefined {
  if (process.env.CLICKHOUSE_URL) return undefined;
  if (serverBinary() !== undefined) return undefined;
  return "ClickHouse unavailable: set CLICKHOUSE_URL or install clickhouse-server (Debian package)";
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function configXml(dir: string, httpPort: number, tcpPort: number): string {
  return `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mlock_executable>false</mlock_executable>
</yandex>
`;
}

const USERS_XML = `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`;

async function ping(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

function waitExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}

async function startOnce(bin: string): Promise<ClickHouseServer | string> {
  const dir = await mkdtemp(join(tmpdir(), "gatehouse-ch-"));
  const httpPort = await freePort();
  const tcpPort = await freePort();
  await writeFile(join(dir, "config.xml"), configXml(dir, httpPort, tcpPort));
  await writeFile(join(dir, "users.xml"), USERS_XML);
  const child = spawn(bin, [`--config-file=${join(dir, "config.xml")}`], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    if (stderr.length < 8192) stderr += d.toString();
  });
  const url = `http://127.0.0.1:${httpPort}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      // A throwaway server: no need to wait out its graceful shutdown (it lingers ~5 s).
      const timer = setTimeout(() => child.kill("SIGKILL"), 300);
      await waitExit(child);
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await ping(url)) return { url, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  return `clickhouse-server did not start: ${stderr.slice(-2000)}`;
}

/** A running server (or the CLICKHOUSE_URL one), or a skip reason. */
export async function startClickHouse(): Promise<ClickHouseServer> {
  const env = process.env.CLICKHOUSE_URL;
  if (env) return { url: env.replace(/\/$/, ""), stop: async () => {} };
  const bin = serverBinary();
  const none = clickHouseSkipReason();
  if (bin === undefined) return { url: "", skip: none, stop: async () => {} };
  let last = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await startOnce(bin);
    if (typeof r !== "string") return r;
    last = r;
  }
  return { url: "", skip: last, stop: async () => {} };
}
