// HTTPS benchmark origin for run.ts --inspect: 1 KiB per request, keep-alive, HTTP/1.1, on
// 127.0.0.1 and ::1 (squid and mitmproxy resolve `localhost` themselves and may pick either).
//   node bench/proxy/tls-origin.ts <port> <cert+chain.pem> <key.pem>
import { readFileSync } from "node:fs";
import { createServer } from "node:https";

const [port, certFile, keyFile] = process.argv.slice(2);
const body = Buffer.alloc(1024, "x");
const options = {
  cert: readFileSync(String(certFile)),
  key: readFileSync(String(keyFile)),
  keepAliveTimeout: 60_000,
};
for (const host of ["127.0.0.1", "::1"]) {
  createServer(options, (_req, res) => {
    res.writeHead(200, {
      "content-type": "application/octet-stream",
      "content-length": body.length,
    });
    res.end(body);
  }).listen(Number(port), host);
}
