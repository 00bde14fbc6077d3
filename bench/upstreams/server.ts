// bench/upstreams' upstream: one process answering every A query with 192.0.2.1 over UDP,
// DNS over TLS (RFC 7858, length-prefixed, pipelined) and DNS over HTTPS (RFC 8484 POST,
// HTTP/1.1 keep-alive). Prints `{"udp":…,"dot":…,"doh":…,"cert":"…"}` once listening.

import { createSocket } from "node:dgram";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createTlsServer } from "node:tls";
import { generate } from "selfsigned";

/** The query turned into its answer: QR, RA, ANCOUNT 1, one A record pointing at the question. */
function answer(q: Buffer): Buffer {
  const out = Buffer.allocUnsafe(q.length + 16);
  q.copy(out);
  out[2] = 0x81;
  out[3] = 0x80;
  out.writeUInt16BE(1, 6);
  out.writeUInt32BE(0, 8);
  const rr = q.length;
  out.writeUInt16BE(0xc00c, rr);
  out.writeUInt16BE(1, rr + 2);
  out.writeUInt16BE(1, rr + 4);
  out.writeUInt32BE(60, rr + 6);
  out.writeUInt16BE(4, rr + 10);
  out.set([192, 0, 2, 1], rr + 12);
  return out;
}

const pems = await generate([{ name: "commonName", value: "upstream.bench" }], {
  keyType: "ec",
  algorithm: "sha256",
  extensions: [{ name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] }],
});
const tlsOpts = { cert: pems.cert, key: pems.private };

const udp = createSocket("udp4");
udp.on("message", (m, r) => udp.send(answer(m), r.port, r.address));
await new Promise<void>((ok) => udp.bind(0, "127.0.0.1", () => ok()));

const dot = createTlsServer({ ...tlsOpts, ALPNProtocols: ["dot"] }, (s) => {
  let buf: Buffer = Buffer.alloc(0);
  s.on("error", () => {});
  s.on("data", (c: Buffer) => {
    buf = buf.length === 0 ? c : Buffer.concat([buf, c]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const a = answer(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      buf = buf.subarray(2 + buf.readUInt16BE(0));
      const f = Buffer.allocUnsafe(2 + a.length);
      f.writeUInt16BE(a.length, 0);
      a.copy(f, 2);
      s.write(f);
    }
  });
});
await new Promise<void>((ok) => dot.listen(0, "127.0.0.1", ok));

const doh = createHttpsServer({ ...tlsOpts, keepAlive: true }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () =>
    res
      .writeHead(200, { "content-type": "application/dns-message" })
      .end(answer(Buffer.concat(chunks))),
  );
});
await new Promise<void>((ok) => doh.listen(0, "127.0.0.1", ok));

const port = (s: { address(): unknown }) => (s.address() as { port: number }).port;
console.log(
  JSON.stringify({ udp: udp.address().port, dot: port(dot), doh: port(doh), cert: pems.cert }),
);
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
