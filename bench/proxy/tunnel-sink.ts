// Tunnel benchmark sink. Upload: counts the bytes each connection sends and answers "done\n" on
// the same connection once the expected amount arrived (so the sender can time the whole
// transfer). Download: a connection that starts with "DOWN\n" is sent the expected amount
// instead (1 MiB writes, backpressure respected), then closed.
//   node bench/proxy/tunnel-sink.ts <port> <bytes>
import { once } from "node:events";
import { createServer, type Socket } from "node:net";

const expected = Number(process.argv[3]);
const chunk = Buffer.alloc(1024 * 1024, 0x5a);

async function send(s: Socket): Promise<void> {
  for (let sent = 0; sent < expected; sent += chunk.length) {
    if (!s.write(chunk)) await once(s, "drain");
  }
  s.end();
}

createServer((s) => {
  let n = 0;
  let first = true;
  s.on("data", (c: Buffer) => {
    if (first) {
      first = false;
      if (c.length === 5 && c.toString("latin1") === "DOWN\n") {
        void send(s).catch(() => s.destroy());
        return;
      }
    }
    n += c.length;
    if (n >= expected) s.end("done\n");
  });
  s.on("error", () => {});
}).listen(Number(process.argv[2]), "127.0.0.1", () => process.stdout.write("ready\n"));
