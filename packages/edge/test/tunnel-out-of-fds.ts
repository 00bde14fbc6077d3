// Child process for proxy-tunnel-relay.test.ts, run under a small `ulimit -n`: takes every free
// descriptor but `free` (argv[2]), so a CONNECT tunnel can be accepted and dialled but the
// splice relay cannot get its duplicates and pipes. Prints one JSON line: what came back
// through the tunnel, the pipes open before and during it, and the tunnel's log record.

import { once } from "node:events";
import { closeSync, openSync, readdirSync, readlinkSync } from "node:fs";
import { type AddressInfo, connect, createServer } from "node:net";
import { bundle, startHarness } from "./proxy-harness.ts";

function pipes(): number {
  let n = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith("pipe:")) n++;
    } catch {
      // the directory's own descriptor
    }
  }
  return n;
}

const free = Number(process.argv[2]);
const echo = createServer({ allowHalfOpen: true }, (s) => {
  s.on("error", () => {});
  s.on("data", (d: Buffer) => s.write(d));
  s.on("end", () => s.end());
});
echo.listen(0, "127.0.0.1");
await once(echo, "listening");
const port = (echo.address() as AddressInfo).port;
const h = await startHarness(bundle({ proxy: { connectPorts: [port] } }));
const pipesBefore = pipes();
const held: number[] = [];
try {
  for (;;) held.push(openSync("/dev/null", "r"));
} catch {
  // EMFILE: full
}
for (let i = 0; i < free; i++) closeSync(held.pop()!);

const s = connect({ port: h.port, host: "127.0.0.1", allowHalfOpen: true });
s.on("error", () => {});
let got = "";
s.on("data", (d: Buffer) => {
  got += d.toString("latin1");
});
s.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
await new Promise((r) => setTimeout(r, 200));
s.write("echo me\n");
const t0 = Date.now();
while (!got.endsWith("echo me\n") && Date.now() - t0 < 3000) {
  await new Promise((r) => setTimeout(r, 10));
}
const pipesDuring = pipes();
s.end();
await Promise.race([once(s, "end"), new Promise((r) => setTimeout(r, 3000))]);
await new Promise((r) => setTimeout(r, 50));
for (const fd of held) closeSync(fd);
const record = h.log.peekNewest(1)[0];
console.log(JSON.stringify({ got, pipesBefore, pipesDuring, record }));
// Done: nothing here needs a graceful close.
process.exit(0);
