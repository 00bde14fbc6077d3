// Shared by the proxy benchmarks: a process tree's CPU time from /proc, and squid ssl-bump's
// configuration (run.ts --inspect, handshake-pair.ts --squid).

import { readdirSync, readFileSync } from "node:fs";

/** utime + stime (seconds) of a process and all its descendants, from /proc. */
export function cpuSeconds(rootPid: number): number {
  const tick = 100; // CLK_TCK on Linux
  const stats = new Map<number, { ppid: number; cpu: number }>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const s = readFileSync(`/proc/${name}/stat`, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      stats.set(Number(name), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / tick });
    } catch {
      // the process ended while we looked
    }
  }
  let total = 0;
  const todo = [rootPid];
  while (todo.length > 0) {
    const pid = todo.pop() as number;
    total += stats.get(pid)?.cpu ?? 0;
    for (const [p, st] of stats) if (st.ppid === pid) todo.push(p);
  }
  return total;
}

/**
 * squid-openssl bumping every CONNECT (generated host certificates, cache off, no access log),
 * trusting `originCa` toward origins; `db` is the certgen database, `dir` where its files go.
 */
export function squidBumpConf(o: {
  port: number;
  ca: string;
  key: string;
  originCa: string;
  certgen: string;
  db: string;
  dir: string;
}): string {
  return `http_port 127.0.0.1:${o.port} ssl-bump generate-host-certificates=on dynamic_cert_mem_cache_size=16MB tls-cert=${o.ca} tls-key=${o.key}
sslcrtd_program ${o.certgen} -s ${o.db} -M 16MB
sslcrtd_children 5 startup=1 idle=1
ssl_bump bump all
tls_outgoing_options cafile=${o.originCa}
acl localnet src 127.0.0.0/8
http_access allow localnet
http_access deny all
cache deny all
cache_mem 0 MB
access_log none
cache_store_log none
cache_log ${o.dir}/squid-bump-cache.log
pid_filename ${o.dir}/squid-bump.pid
coredump_dir ${o.dir}
shutdown_lifetime 0 seconds
max_filedescriptors 16384
`;
}
