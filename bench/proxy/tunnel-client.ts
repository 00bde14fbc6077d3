// Tunnel benchmark client: CONNECT through a proxy to the sink, then either push <bytes> as fast
// as the tunnel takes them (up: 1 MiB writes, backpressure respected, timed until the sink
// confirms) or ask the sink for <bytes> and read them (down: timed until the last byte).
// Prints bytes/s.
//   node bench/proxy/tunnel-client.ts <proxyPort> <sinkPort> <bytes> [up|down]
import { once } from "node:events";
import { connect } from "node:net";

const [proxyPort, sinkPort, total] = process.argv.slice(2, 5).map(Number) as [
  number,
  number,
  number,
];
const direction = process.argv[5] ?? "up";
const sock = connect(proxyPort, "127.0.0.1");
sock.write(`CONNECT 127.0.0.1:${sinkPort} HTTP/1.1\r\nHost: 127.0.0.1:${sinkPort}\r\n\r\n`);
let head = "";
while (!head.includes("\r\n\r\n")) {
  const [c] = (await once(sock, "data")) as [Buffer];
  head += c.toString("latin1");
}
if (!/^HTTP\/1\.[01] 200/.test(head)) {
  process.stderr.write(`CONNECT refused: ${head.split("\r\n")[0]}\n`);
  process.exit(1);
}
const t0 = performance.now();
if (direction === "down") {
  let got = 0;
  const done = new Promise<void>((resolve) => {
    sock.on("data", (c: Buffer) => {
      got += c.length;
      if (got >= total) resolve();
    });
    sock.on("end", () => resolve());
  });
  sock.write("DOWN\n");
  await done;
  if (got < total) {
    process.stderr.write(`tunnel closed after ${got} of ${total} bytes\n`);
    process.exit(1);
  }
} else {
  const chunk = Buffer.alloc(1024 * 1024, 0x5a);
  const acked = once(sock, "data");
  for (let sent = 0; sent < total; sent += chunk.length) {
    if (!sock.write(chunk)) await once(sock, "drain");
  }
  await acked;
}
const secs = (performance.now() - t0) / 1000;
process.stdout.write(`${total / secs}\n`);
sock.destroy();
