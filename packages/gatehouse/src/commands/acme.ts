// Certificates from an ACME CA (RFC 8555: Let's Encrypt, a private step-ca, …) for `gatehouse
// up --hostname NAME --acme-directory URL`: the HTTP-01 challenge is answered by a small HTTP
// server Gatehouse opens on port 80 of the addresses it serves (or --acme-http ADDR:PORT, the
// port the CA connects to). The account key, the certificate and its key live in DATA/tls/acme/;
// a certificate with more than a third of its lifetime left is reused, else a new one is
// ordered. `renewLoop` checks twice a day and hands a renewed certificate to the listeners.
// DNS-01 needs an API of the DNS provider for the name and is not offered.

import { X509Certificate } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { Agent } from "node:https";
import { join } from "node:path";
import { splitHostPort } from "@gatehouse/edge";
import * as acme from "acme-client";

export interface AcmeOptions {
  /** The CA's directory URL. */
  readonly directoryUrl: string;
  /** The names the certificate is for (the first is its subject). */
  readonly names: readonly string[];
  readonly email?: string | undefined;
  /** Where the CA's HTTP-01 requests arrive ("host:port" each). */
  readonly httpListen: readonly string[];
  /** DATA/tls/acme */
  readonly dir: string;
  /** A PEM CA bundle to trust for the directory's HTTPS (a private CA). */
  readonly caFile?: string | undefined;
  readonly log: (line: string) => void;
}

interface AcmeCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
  /** True when this call ordered it (false: the stored one was still good). */
  readonly ordered: boolean;
}

/** Renew when less than a third of the lifetime is left (Let's Encrypt's advice: at 60 of 90 days). */
export function needsRenewal(pem: string, names: readonly string[], now = Date.now()): boolean {
  const x = new X509Certificate(pem);
  const from = new Date(x.validFrom).getTime();
  const to = new Date(x.validTo).getTime();
  if (now >= to - (to - from) / 3) return true;
  return !names.every((n) => x.checkHost(n) !== undefined);
}

async function writeAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
}

async function readOr(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Serve /.well-known/acme-challenge/<token> on every address while an order runs. */
async function challengeServers(
  listen: readonly string[],
  answers: Map<string, string>,
): Promise<Server[]> {
  const servers: Server[] = [];
  const handler = (req: { url?: string | undefined }, res: import("node:http").ServerResponse) => {
    const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]{1,256})$/.exec(
      req.url ?? "",
    )?.[1];
    const body = token !== undefined ? answers.get(token) : undefined;
    res.writeHead(body ? 200 : 404, { "content-type": "text/plain" }).end(body ?? "not found\n");
  };
  try {
    for (const a of listen) {
      const { host, port } = splitHostPort(a);
      const srv = createServer(handler);
      srv.requestTimeout = 10_000;
      await new Promise<void>((res, rej) => {
        srv.once("error", (e: NodeJS.ErrnoException) =>
          rej(
            new Error(
              `ACME HTTP-01: cannot listen on ${a} (${e.code ?? e.message}); choose the address with --acme-http ADDR:PORT`,
            ),
          ),
        );
        srv.listen(port, host, () => res());
      });
      servers.push(srv);
    }
  } catch (e) {
    await closeAll(servers);
    throw e;
  }
  return servers;
}

async function closeAll(servers: readonly Server[]): Promise<void> {
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((r) => {
          s.closeAllConnections();
          s.close(() => r());
        }),
    ),
  );
}

/** The stored certificate when still good, else a new one from the CA. */
export async function acmeCertificate(opts: AcmeOptions, force = false): Promise<AcmeCertificate> {
  await mkdir(opts.dir, { recursive: true, mode: 0o700 });
  const certFile = join(opts.dir, "cert.pem");
  const keyFile = join(opts.dir, "key.pem");
  const [cert, key] = await Promise.all([readOr(certFile), readOr(keyFile)]);
  if (!force && cert && key && !needsRenewal(cert, opts.names))
    return { certFile, keyFile, cert, key, ordered: false };
  if (opts.caFile)
    acme.axios.defaults.httpsAgent = new Agent({ ca: await readFile(opts.caFile, "utf8") });
  const accountFile = join(opts.dir, "account-key.pem");
  let accountKey = await readOr(accountFile);
  if (!accountKey) {
    accountKey = (await acme.crypto.createPrivateKey()).toString();
    await writeAtomic(accountFile, accountKey);
  }
  const client = new acme.Client({ directoryUrl: opts.directoryUrl, accountKey });
  const [commonName] = opts.names;
  if (commonName === undefined) throw new Error("a certificate needs at least one name");
  const [newKey, csr] = await acme.crypto.createCsr({
    commonName,
    altNames: [...opts.names],
  });
  const answers = new Map<string, string>();
  const servers = await challengeServers(opts.httpListen, answers);
  let pem: string;
  try {
    opts.log(`ACME: ordering a certificate for ${opts.names.join(", ")} from ${opts.directoryUrl}`);
    pem = await client.auto({
      csr,
      ...(opts.email ? { email: opts.email } : {}),
      termsOfServiceAgreed: true,
      challengePriority: ["http-01"],
      // The CA checks the challenge itself; this machine may not resolve its own name.
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
        if (challenge.type !== "http-01")
          throw new Error(`ACME: only http-01 is answered, not ${challenge.type}`);
        answers.set(challenge.token, keyAuthorization);
      },
      challengeRemoveFn: async (_authz, challenge) => {
        answers.delete(challenge.token);
      },
    });
  } finally {
    await closeAll(servers);
  }
  await writeAtomic(keyFile, newKey.toString());
  await writeAtomic(certFile, pem, 0o644);
  opts.log(`ACME: certificate for ${opts.names.join(", ")} stored in ${certFile}`);
  return { certFile, keyFile, cert: pem, key: newKey.toString(), ordered: true };
}

/**
 * Check twice a day (or every `everyMs`) and renew when due; `onRenewed` gets the new
 * certificate. A failed renewal is logged and tried again at the next check. Returns a stop.
 */
export function renewLoop(
  opts: AcmeOptions,
  onRenewed: (c: AcmeCertificate) => void,
  everyMs = 12 * 3600_000,
): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    acmeCertificate(opts)
      .then(
        (c) => {
          if (c.ordered) onRenewed(c);
        },
        (e: unknown) =>
          opts.log(`ACME: renewal failed, trying again later: ${(e as Error).message}`),
      )
      .finally(() => {
        running = false;
      });
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
