// CPU per full TLS handshake in one process (a Node client and a TLSSocket server on a context
// like the inspected side's), with Node's default suite order and with TLS_AES_128_GCM_SHA256
// first, in alternating rounds: what the suite order costs, both sides counted.
//   node bench/proxy/handshake-ciphers.ts [handshakes per round, default 1500]

import { constants } from "node:crypto";
import { createServer } from "node:net";
import { connect, createSecureContext, DEFAULT_CIPHERS, TLSSocket } from "node:tls";
import { originCert, testPki } from "../../packages/edge/test/tls-pki.ts";

const pki = await testPki();
const leaf = await originCert(pki, "www.example.com");
const prefer128 = `TLS_AES_128_GCM_SHA256:${DEFAULT_CIPHERS.split(":")
  .filter((c) => c !== "TLS_AES_128_GCM_SHA256")
  .join(":")}`;
const ctxOf = (ciphers?: string) =>
  createSecureContext({
    cert: leaf.cert,
    key: leaf.key,
    ecdhCurve: "X25519:P-256:P-384:X25519MLKEM768",
    honorCipherOrder: true,
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
    ...(ciphers ? { ciphers } : {}),
  });
const ctxs = { default: ctxOf(), aes128: ctxOf(prefer128) };
let current = ctxs.default;
const server = createServer((raw) => {
  const t = new TLSSocket(raw, { isServer: true, secureContext: current });
  t.on("error", () => t.destroy());
  t.on("data", () => t.end("y"));
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const port = (server.address() as { port: number }).port;
const clientCtx = createSecureContext({ ca: pki.root });
let cipher = "";
const one = () =>
  new Promise<void>((resolve, reject) => {
    const s = connect({
      port,
      host: "127.0.0.1",
      servername: "www.example.com",
      secureContext: clientCtx,
    });
    s.once("secureConnect", () => {
      cipher = s.getCipher().name;
      s.write("x");
    });
    s.on("data", () => {});
    s.once("close", () => resolve());
    s.once("error", reject);
  });
const N = Number(process.argv[2] ?? 1500);
for (let i = 0; i < 300; i++) await one();
const res = { default: [] as number[], aes128: [] as number[] };
for (let round = 0; round < 6; round++) {
  for (const k of round % 2 ? (["aes128", "default"] as const) : (["default", "aes128"] as const)) {
    current = ctxs[k];
    const c0 = process.cpuUsage();
    for (let i = 0; i < N; i++) await one();
    const c = process.cpuUsage(c0);
    res[k].push((c.user + c.system) / N);
    console.error(k, cipher, ((c.user + c.system) / N).toFixed(0), "µs both sides");
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1] ?? 0;
console.log("median µs per handshake (client+server, one process):", {
  default: med(res.default),
  aes128: med(res.aes128),
});
server.close();
