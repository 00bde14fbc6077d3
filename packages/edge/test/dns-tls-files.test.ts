// DoT with a certificate from `edge.tls` files (paths relative to the config file).

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { connect } from "node:tls";
import { generate } from "selfsigned";
import { parseEdgeConfig } from "../src/config-file.ts";
import { decodeMessage } from "../src/dns/wire/message.ts";
import { startEdge } from "../src/main.ts";
import { buildQuery } from "./dns-helpers.ts";

test("certificate and key from files", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gh-tls-"));
  const pems = await generate([{ name: "commonName", value: "dot.test" }], {
    keySize: 2048,
    algorithm: "sha256",
    extensions: [{ name: "subjectAltName", altNames: [{ type: 2, value: "dot.test" }] }],
  });
  writeFileSync(join(dir, "cert.pem"), pems.cert);
  writeFileSync(join(dir, "key.pem"), pems.private);
  const config = parseEdgeConfig(
    {
      resolver: { upstreams: [] },
      locations: [{ id: "lo", name: "lo", networks: ["127.0.0.1"] }],
      lists: [],
      policies: [],
      edge: { dns: { dot: ["127.0.0.1:0"] }, tls: { certFile: "cert.pem", keyFile: "key.pem" } },
    },
    "inline",
    dir,
  );
  assert.equal(config.edge?.tls?.certFile, join(dir, "cert.pem"));
  const lines: string[] = [];
  const edge = await startEdge({ config, log: (l) => lines.push(l) });
  try {
    assert.equal(lines.length, 0, "nothing generated");
    const port = Number(edge.addresses.dns.dot[0]!.split(":").pop());
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port, ca: pems.cert, servername: "dot.test" });
      let buf = Buffer.alloc(0);
      s.on("error", reject);
      s.on("data", (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          resolve(buf.subarray(2));
          s.end();
        }
      });
      const q = buildQuery("localhost");
      const f = Buffer.alloc(2 + q.length);
      f.writeUInt16BE(q.length);
      q.copy(f, 2);
      s.write(f);
    });
    // Verified against the configured certificate; answered locally (special name).
    assert.equal(decodeMessage(reply).answers[0]?.data, "127.0.0.1");
  } finally {
    await edge.close();
  }
});
