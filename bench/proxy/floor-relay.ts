// A floor for the proxy's CPU per request in Node: no parsing, no policies, no pool. Each client
// connection gets one origin connection of its own; every read from the client sends a fixed
// request head to the origin, every read from the origin is written back to the client. Same
// net.Socket reads and writes (one each way per request) as the proxy, so its utime + stime per
// request is what the stream machinery and the system calls cost, and the proxy's excess over it
// is its own JavaScript (docs/benchmarks.md, issue 19, session 9). Keep-alive GETs only.
//   node bench/proxy/floor-relay.ts <port> <origin port>
// then e.g. `wrk -t2 -c50 -d5s` with absolute-form requests (bench/proxy/run.ts's script).

import { connect, createServer } from "node:net";

const port = Number(process.argv[2]);
const originPort = Number(process.argv[3]);
const head = Buffer.from(`GET /1k HTTP/1.1\r\nhost: 127.0.0.1:${originPort}\r\n\r\n`, "latin1");
createServer({ noDelay: true }, (client) => {
  const origin = connect({ port: originPort, host: "127.0.0.1", noDelay: true });
  client.on("data", () => origin.write(head));
  origin.on("data", (d: Buffer) => client.write(d));
  client.on("error", () => client.destroy());
  origin.on("error", () => client.destroy());
  client.on("close", () => origin.destroy());
}).listen(port, "127.0.0.1");
