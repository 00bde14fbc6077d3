// Fallback benchmark origin when nginx is not installed: 1 KiB per request, keep-alive.
//   node bench/proxy/origin.ts <port>
import { createServer } from "node:http";

const body = Buffer.alloc(1024, "x");
createServer({ keepAliveTimeout: 60_000 }, (_req, res) => {
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length });
  res.end(body);
}).listen(Number(process.argv[2]), "127.0.0.1");
