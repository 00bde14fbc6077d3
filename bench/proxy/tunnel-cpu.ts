// Tunnel cost: the Gatehouse proxy's own CPU time (utime + stime from /proc) per GiB moved
// through one CONNECT tunnel, each way, with the throughput beside it. CPU per byte moves far
// less than throughput when other jobs share the machine, so it is the figure to compare
// relays by (run it twice, once with GATEHOUSE_TUNNEL_SPLICE=0, for the Node relay).
//   node bench/proxy/tunnel-cpu.ts [--tunnel-mib 1024] [--rounds 2]

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freePort, waitPort } from "./ports.ts";

const { values } = parseArgs({
  options: {
    "tunnel-mib": { type: "string", default: "1024" },
    rounds: { type: "string", default: "2" },
  },
});
const MIB = Number(values["tunnel-mib"]);
const ROUNDS = Number(values.rounds);
const BYTES = MIB * 1024 * 1024;
const here = import.meta.dirname;

/** utime + stime of a process so far, in ms (clock ticks of 10 ms). */
function cpuMs(p: ChildProcess): number {
  const stat = readFileSync(`/proc/${p.pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const sinkPort = await freePort();
const proxyPort = await freePort();
const sink = spawn(
  process.execPath,
  [join(here, "tunnel-sink.ts"), String(sinkPort), String(BYTES)],
  {
    stdio: "ignore",
  },
);
const proxy = spawn(
  process.execPath,
  [
    join(here, "gatehouse-proxy.ts"),
    "--port",
    String(proxyPort),
    "--connect-port",
    String(sinkPort),
  ],
  { stdio: "ignore" },
);
try {
  await waitPort(sinkPort);
  await waitPort(proxyPort);
  const relay = process.env.GATEHOUSE_TUNNEL_SPLICE === "0" ? "node" : "splice (if built)";
  console.log(
    `# ${process.version}, relay: ${relay}, ${MIB} MiB per tunnel, load ${readFileSync("/proc/loadavg", "utf8").trim()}`,
  );
  for (let round = 0; round < ROUNDS; round++) {
    for (const direction of ["up", "down"]) {
      const c0 = cpuMs(proxy);
      const out = execFileSync(
        process.execPath,
        [
          join(here, "tunnel-client.ts"),
          String(proxyPort),
          String(sinkPort),
          String(BYTES),
          direction,
        ],
        { encoding: "utf8", timeout: 120_000 },
      );
      await new Promise((r) => setTimeout(r, 100)); // the tunnel's close is the proxy's too
      const perGiB = (cpuMs(proxy) - c0) / (MIB / 1024);
      console.log(
        `${direction}: ${(Number(out) / 1e9).toFixed(2)} GB/s, proxy CPU ${perGiB.toFixed(0)} ms per GiB`,
      );
    }
  }
} finally {
  proxy.kill();
  sink.kill();
}
