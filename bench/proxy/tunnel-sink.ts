// Tunnel benchmark sink: counts the bytes each connection sends and answers "done\n" on the same
// connection once the expected amount arrived (so the sender can time the whole transfer).
//   node bench/proxy/tunnel-sink.ts <port> <bytes>
import { createServer } from "node:net";

const expected = Number(process.argv[3]);
createServer((s) => {
  let n = 0;
  s.on("data", (c: Buffer) => {
    n += c.length;
    if (n >= expected) s.end("done\n");
  });
  s.on("error", () => {});
}).listen(Number(process.argv[2]), "127.0.0.1", () => process.stdout.write("ready\n"));
