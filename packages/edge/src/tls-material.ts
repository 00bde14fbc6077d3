// Certificates for DoT and DoH: the files named in `edge.tls`, or — for development — a
// self-signed certificate generated once into the data directory and reused afterwards (its path
// is printed so a client can be told to trust it).

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generate } from "selfsigned";

export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  readonly generated: boolean;
}

export async function loadTlsMaterial(opts: {
  tls?: { certFile: string; keyFile: string };
  dataDir: string;
  log?: (line: string) => void;
}): Promise<TlsMaterial> {
  if (opts.tls) {
    const [cert, key] = await Promise.all([
      readFile(opts.tls.certFile, "utf8"),
      readFile(opts.tls.keyFile, "utf8"),
    ]).catch((e: Error) => {
      throw new Error(`edge.tls: cannot read certificate or key: ${e.message}`, { cause: e });
    });
    return { cert, key, certFile: opts.tls.certFile, generated: false };
  }
  const certFile = join(opts.dataDir, "edge-selfsigned-cert.pem");
  const keyFile = join(opts.dataDir, "edge-selfsigned-key.pem");
  try {
    const [cert, key] = await Promise.all([readFile(certFile, "utf8"), readFile(keyFile, "utf8")]);
    return { cert, key, certFile, generated: false };
  } catch {
    // Not generated yet.
  }
  await mkdir(opts.dataDir, { recursive: true });
  const pems = await generate([{ name: "commonName", value: "gatehouse-edge.local" }], {
    keySize: 2048,
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 825 * 86_400_000),
    extensions: [
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 2, value: "*.dot.localhost" },
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
        ],
      },
    ],
  });
  await writeFile(keyFile, pems.private, { mode: 0o600 });
  await writeFile(certFile, pems.cert);
  (opts.log ?? ((l) => console.error(l)))(
    `gatehouse edge: generated a self-signed certificate for DoT/DoH: ${certFile}`,
  );
  return { cert: pems.cert, key: pems.private, certFile, generated: true };
}
