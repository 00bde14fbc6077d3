// Do53 over TCP and DNS over TLS (RFC 7858) listeners: stream connections with framing and
// pipelining (stream-connection.ts), a bound on concurrent connections, and a graceful close
// that stops accepting, lets in-flight answers finish and then ends connections, bounded in time.

import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { splitHostPort } from "../../net/host-port.ts";
import type { DnsService } from "../dns-service.ts";
import { STREAM_DEFAULTS, type StreamLimits, serveStream } from "./stream-connection.ts";

export interface StreamListener {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
  /** Graceful: stop accepting, wait up to `graceMs` for in-flight answers, then close. */
  close(graceMs?: number): Promise<void>;
}

export interface StreamListenerOptions extends Partial<StreamLimits> {
  readonly maxConnections?: number;
  /** DoT: PEM certificate and key. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
}

export async function listenStream(
  service: DnsService,
  addr: string,
  opts: StreamListenerOptions = {},
): Promise<StreamListener> {
  const { host, port } = splitHostPort(addr);
  const limits: StreamLimits = {
    idleTimeoutMs: opts.idleTimeoutMs ?? STREAM_DEFAULTS.idleTimeoutMs,
    maxInFlight: opts.maxInFlight ?? STREAM_DEFAULTS.maxInFlight,
  };
  const conns = new Map<Socket, { inFlight: () => number }>();
  let closing = false;
  const onConn = (sock: Socket, transport: "tcp" | "dot", serverName?: string) => {
    const state = serveStream(service, sock, transport, limits, serverName, () => {
      if (closing) sock.end();
    });
    conns.set(sock, state);
    sock.on("close", () => conns.delete(sock));
  };
  const server: Server = opts.tls
    ? createTlsServer(
        { cert: opts.tls.cert, key: opts.tls.key, ALPNProtocols: ["dot"] },
        (s: TLSSocket) =>
          onConn(s, "dot", typeof s.servername === "string" ? s.servername : undefined),
      )
    : createTcpServer((s) => onConn(s, "tcp"));
  server.maxConnections = opts.maxConnections ?? 1000;
  server.on("error", () => {});
  if (opts.tls) server.on("tlsClientError", (_e: Error, s: Socket) => s.destroy());
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => {
      server.off("error", fail);
      ok();
    });
  });
  const a = server.address() as { address: string; port: number };
  return {
    server,
    host: a.address,
    port: a.port,
    close: async (graceMs = 2000) => {
      closing = true;
      const done = new Promise<void>((ok) => server.close(() => ok()));
      for (const [sock, st] of conns) if (st.inFlight() === 0) sock.end();
      const timer = setTimeout(() => {
        for (const sock of conns.keys()) sock.destroy();
      }, graceMs);
      await done;
      clearTimeout(timer);
    },
  };
}
