// Same-run pairs for inspected handshakes: the one-process Gatehouse proxy of this tree and of
// another checkout (--compare), and optionally squid ssl-bump, each started once and kept warm,
// then runs of `tls-load.ts --handshakes` against each in turn (A, B, A, B, …), so a change in the
// machine's load hits both alike. Reports each proxy's CPU per handshake (its /proc CPU time over
// the handshakes made) per run and the median, and the ratio B/A per pair. Fewer loops than
// run.ts (default 8): the proxies are not driven to saturation, the figure is CPU per handshake.
//   node bench/proxy/handshake-pair.ts --compare /work/before [--seconds 3] [--pairs 5]
//     [--connections 8] [--resume] [--squid] [--pin]
// --profile DIR: `--cpu-prof` into DIR/<name> (the profile covers the warm-up too).
// --node-args="…": more flags for the Gatehouse proxies' node (e.g. "--trace-deopt"); with
// --before-node-args="…" the --compare one gets those instead (--compare may be this tree: a
// pair of node flags). --proxy-out DIR: their stdout into DIR/<name>.out.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import {
  chmodSync,
  createWriteStream,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { originCert, testPki } from "../../packages/edge/test/tls-pki.ts";
import { freePort, waitPort } from "./ports.ts";
import { cpuSeconds, squidBumpConf } from "./proc-cpu.ts";

const { values } = parseArgs({
  options: {
    compare: { type: "string" },
    seconds: { type: "string", default: "3" },
    pairs: { type: "string", default: "5" },
    connections: { type: "string", default: "8" },
    resume: { type: "boolean", default: false },
    squid: { type: "boolean", default: false },
    pin: { type: "boolean", default: false },
    profile: { type: "string" },
    "node-args": { type: "string" },
    "before-node-args": { type: "string" },
    "proxy-out": { type: "string" },
  },
});
const SECONDS = Number(values.seconds);
const PAIRS = Number(values.pairs);
const CONNECTIONS = Number(values.connections);
const HOST = "localhost";
const here = join(import.meta.dirname, "../..");
const dir = mkdtempSync(join(tmpdir(), "gatehouse-hs-"));
chmodSync(dir, 0o777); // squid drops privileges, reads its CA and writes its log here
const children: ChildProcess[] = [];
const pinned = (cpu: string, cmd: string, args: string[]): [string, string[]] =>
  values.pin ? ["taskset", ["-c", cpu, cmd, ...args]] : [cmd, args];

function start(cmd: string, args: string[], cpu = "0"): ChildProcess {
  const [c, a] = pinned(cpu, cmd, args);
  const p = spawn(c, a, { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  p.stderr?.on("data", (d) => {
    err = (err + d).slice(-2000);
  });
  p.stdout?.resume();
  p.on("exit", (code, sig) => {
    if (code !== 0 && sig === null) process.stderr.write(`${cmd} exited ${code}: ${err}\n`);
  });
  children.push(p);
  return p;
}

const pem = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text, { mode: 0o644 });
  return f;
};
const originPki = await testPki();
const leaf = await originCert(originPki, HOST);
const certFile = pem("origin.pem", leaf.cert);
const keyFile = pem("origin.key", leaf.key);
pem("origin-ca.pem", originPki.root);
const originPort = await freePort();
start(
  process.execPath,
  [join(import.meta.dirname, "tls-origin.ts"), String(originPort), certFile, keyFile],
  "1",
);
await waitPort(originPort);

interface Proxy {
  name: string;
  proc: ChildProcess;
  port: number;
  ca: string;
  cpu: number[];
}

async function startGatehouse(name: string, root: string): Promise<Proxy> {
  const port = await freePort();
  const inspectDir = join(dir, name);
  execFileSync("mkdir", ["-p", inspectDir]);
  writeFileSync(join(inspectDir, "origin-ca.pem"), originPki.root);
  const args = [
    join(root, "bench/proxy/gatehouse-proxy.ts"),
    "--port",
    String(port),
    "--connect-port",
    "9",
    "--inspect-dir",
    inspectDir,
    "--tls-host",
    HOST,
    "--tls-port",
    String(originPort),
  ];
  const proc = start(process.execPath, [
    ...(values.profile === undefined
      ? []
      : ["--cpu-prof", `--cpu-prof-dir=${join(values.profile, name)}`]),
    ...((name === "gatehouse-before" ? values["before-node-args"] : values["node-args"])
      ?.split(" ")
      .filter(Boolean) ?? []),
    ...args,
  ]);
  if (values["proxy-out"] !== undefined)
    proc.stdout?.pipe(createWriteStream(join(values["proxy-out"], `${name}.out`)));
  await waitPort(port);
  return { name, proc, port, ca: join(inspectDir, "gatehouse-root.pem"), cpu: [] };
}

async function startSquid(): Promise<Proxy> {
  const port = await freePort();
  const squidPki = await testPki();
  const ca = pem("squid-ca.pem", squidPki.root);
  const key = pem(
    "squid-ca.key",
    squidPki.rootKey.export({ type: "pkcs8", format: "pem" }).toString(),
  );
  const certgen = "/usr/lib/squid/security_file_certgen";
  const db = join(dir, "squid-ssl-db");
  execFileSync(certgen, ["-c", "-s", db, "-M", "16MB"], { stdio: "ignore" });
  execFileSync("chown", ["-R", "proxy:proxy", db]);
  writeFileSync(
    join(dir, "squid-bump.conf"),
    squidBumpConf({ port, ca, key, originCa: join(dir, "origin-ca.pem"), certgen, db, dir }),
  );
  const proc = start("squid", ["-N", "-d", "0", "-f", join(dir, "squid-bump.conf")]);
  await waitPort(port);
  return { name: "squid", proc, port, ca, cpu: [] };
}

function load(
  p: Proxy,
  connections: number,
  seconds: number,
): { requests: number; errors: number; resumed: number } {
  const [cmd, args] = pinned("1", process.execPath, [
    join(import.meta.dirname, "tls-load.ts"),
    "--proxy-port",
    String(p.port),
    "--host",
    HOST,
    "--port",
    String(originPort),
    "--ca",
    p.ca,
    "--connections",
    String(connections),
    "--duration",
    String(seconds),
    "--handshakes",
    ...(values.resume ? ["--resume"] : []),
  ]);
  const out = execFileSync(cmd, args, { encoding: "utf8", timeout: (seconds + 120) * 1000 });
  return JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as {
    requests: number;
    errors: number;
    resumed: number;
  };
}

const proxies: Proxy[] = [await startGatehouse("gatehouse", here)];
if (values.compare !== undefined)
  proxies.push(await startGatehouse("gatehouse-before", values.compare));
if (values.squid) proxies.push(await startSquid());
console.log(
  `# ${process.version}, load ${readFileSync("/proc/loadavg", "utf8").trim()}; tls-load --handshakes${values.resume ? " --resume" : ""} -c${CONNECTIONS} -d${SECONDS}s, ${PAIRS} pairs`,
);
for (const p of proxies) load(p, CONNECTIONS, 3); // warm-up: JIT, leaf minted
for (let i = 0; i < PAIRS; i++) {
  const order = i % 2 === 0 ? proxies : [...proxies].reverse();
  for (const p of order) {
    const c0 = cpuSeconds(p.proc.pid ?? 0);
    const r = load(p, CONNECTIONS, SECONDS);
    const c1 = cpuSeconds(p.proc.pid ?? 0);
    const per = ((c1 - c0) / Math.max(1, r.requests)) * 1e6;
    console.error(
      `${p.name}: ${r.requests} handshakes${values.resume ? ` (${Math.round((100 * r.resumed) / Math.max(1, r.requests))} % resumed)` : ""}${r.errors ? ` (${r.errors} errors)` : ""}, ${per.toFixed(0)} µs CPU each`,
    );
    p.cpu.push(per);
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};
const unit = "µs CPU / handshake";
const base = proxies[0] as Proxy;
for (const p of proxies)
  console.log(
    `| ${p.name} | ${median(p.cpu).toFixed(0)} ${unit} | runs ${p.cpu.map((v) => v.toFixed(0)).join("/")} | vs gatehouse per pair ${p.cpu.map((v, i) => (v / (base.cpu[i] ?? 1)).toFixed(2)).join("/")} |`,
  );
console.log(`# load after ${readFileSync("/proc/loadavg", "utf8").trim()}`);
for (const c of children) {
  c.kill("SIGTERM");
  const t = setTimeout(() => c.kill("SIGKILL"), 5000);
  if (c.exitCode === null && c.signalCode === null) await once(c, "exit");
  clearTimeout(t);
}
rmSync(dir, { recursive: true, force: true });
