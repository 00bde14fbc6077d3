// The upstream of the memory benchmarks (bench/dns/memory.ts, bench/footprint/run.ts): nsd on
// loopback serving one wildcard zone, `load.test`, so every name asked is a new answer, and the
// dnsperf query file asking `names` distinct names of it in a scattered order.

import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** Write the zone, nsd's config and `load.txt` (the queries) to `dir`; start nsd on `port`. */
export function startWildcardUpstream(dir: string, port: number, names: number) {
  writeFileSync(
    join(dir, "load.zone"),
    "$ORIGIN load.test.\n$TTL 3600\n@ IN SOA ns admin 1 3600 600 86400 300\n@ IN NS ns\nns IN A 127.0.0.1\n* IN A 10.0.0.1\n",
  );
  // rrl-ratelimit 0: nsd's response rate limiting would drop most of one client's answers.
  writeFileSync(
    join(dir, "nsd.conf"),
    `server:\n  ip-address: 127.0.0.1@${port}\n  port: ${port}\n  username: ""\n  chroot: ""\n  zonesdir: "${dir}"\n  pidfile: "${dir}/nsd.pid"\n  xfrdfile: "${dir}/xfrd.state"\n  zonelistfile: "${dir}/zone.list"\n  logfile: "${dir}/nsd.log"\n  server-count: 1\n  verbosity: 0\n  rrl-ratelimit: 0\nremote-control:\n  control-enable: no\nzone:\n  name: load.test\n  zonefile: load.zone\n`,
  );
  const q: string[] = [];
  for (let i = 0; i < names; i++) q.push(`n${(i * 7919) % names}.load.test A`);
  writeFileSync(join(dir, "load.txt"), `${q.join("\n")}\n`);
  return spawn("nsd", ["-d", "-c", join(dir, "nsd.conf")], { stdio: "ignore" });
}
