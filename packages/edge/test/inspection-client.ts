// Helpers for TLS inspection tests: a proxy that inspects loopback clients' CONNECTs (leaves
// from a test PKI, the origins' own CA trusted through proxy.originCas), and a client that
// CONNECTs through it and speaks TLS inside, as a browser behind the proxy would.

import { request as httpRequest } from "node:http";
import type { Socket } from "node:net";
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from "node:tls";
import type { ConfigBundle, ProxySettings } from "@gatehouse/contract";
import { Registry } from "prom-client";
import { type ProxyLimits, type RunningProxy, startProxy } from "../src/proxy/index.ts";
import { compileSnapshot } from "../src/snapshot.ts";
import { QueryLog } from "../src/telemetry/query-log.ts";
import { LeafMinter } from "../src/tls/leaf-minter.ts";
import { bundle, policy, StaticResolver } from "./proxy-harness.ts";
import type { TestPki } from "./tls-pki.ts";

export interface InspectingProxy {
  readonly proxy: RunningProxy;
  readonly log: QueryLog;
  readonly registry: Registry;
  readonly port: number;
}

/**
 * A proxy inspecting 127.0.0.0/8 with `policies` (and an allow for the origins' names to
 * 127.0.0.1), its leaves from `pki`, `originCa` trusted for origins, `proxy` settings merged in.
 */
export async function startInspectingProxy(opts: {
  readonly origins: Record<string, number>;
  readonly originCa: string;
  readonly pki: TestPki;
  readonly policies?: ConfigBundle["policies"];
  readonly lists?: ConfigBundle["lists"];
  readonly proxy?: ProxySettings;
  readonly limits?: Partial<ProxyLimits>;
}): Promise<InspectingProxy> {
  const names = Object.keys(opts.origins);
  const snapshot = compileSnapshot(
    bundle({
      locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"], tlsInspection: true }],
      proxy: {
        connectPorts: Object.values(opts.origins),
        originCas: [opts.originCa],
        ...opts.proxy,
      },
      lists: opts.lists ?? [],
      policies: [
        ...(opts.policies ?? []),
        policy("net", "allow", `net.connect.host in {${names.map((n) => `"${n}"`).join(" ")}}`, {
          name: "Test origins",
          settings: { allowPrivateDestinations: ["127.0.0.1/32"] },
        }),
      ],
    }),
  );
  const log = new QueryLog(1000);
  const registry = new Registry();
  const minter = new LeafMinter({ registry });
  minter.setIssuer(opts.pki.issuer);
  const proxy = await startProxy({
    listen: ["127.0.0.1:0"],
    getSnapshot: () => snapshot,
    resolver: new StaticResolver(Object.fromEntries(names.map((n) => [n, ["127.0.0.1"]]))),
    log,
    registry,
    minter,
    ...(opts.limits === undefined ? {} : { limits: opts.limits }),
  });
  return { proxy, log, registry, port: proxy.addresses[0]!.port };
}

/** CONNECT `name:port` through the proxy at `proxyPort`, then TLS inside (handshake done). */
export async function tlsThrough(
  proxyPort: number,
  name: string,
  port: number,
  tls: ConnectionOptions,
): Promise<TLSSocket> {
  const raw = await new Promise<Socket>((resolve, reject) => {
    const req = httpRequest({
      host: "127.0.0.1",
      port: proxyPort,
      method: "CONNECT",
      path: `${name}:${port}`,
    });
    req.once("connect", (res, socket) => {
      if (res.statusCode === 200) resolve(socket);
      else reject(new Error(`CONNECT ${res.statusCode}`));
    });
    req.once("error", reject);
    req.end();
  });
  const s = tlsConnect({ socket: raw, servername: name, ...tls });
  await new Promise<void>((resolve, reject) => {
    s.once("secureConnect", resolve);
    s.once("error", reject);
  });
  return s;
}

/** One HTTP/1.1 GET on a TLS socket (Connection: close): the whole response as text. */
export async function getOver(s: TLSSocket, host: string, path: string): Promise<string> {
  const chunks: Buffer[] = [];
  s.on("data", (c: Buffer) => chunks.push(c));
  const closed = new Promise<void>((resolve) => s.once("close", () => resolve()));
  s.on("error", () => {});
  s.write(
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAccept: text/html\r\nConnection: close\r\n\r\n`,
  );
  await closed;
  return Buffer.concat(chunks).toString("latin1");
}
