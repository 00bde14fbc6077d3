// Relaying bytes both ways between a client socket and an origin socket, once neither side
// speaks HTTP to us any more: a CONNECT tunnel after the ClientHello peek (tunnel.ts) and a
// protocol upgrade (WebSocket) after the origin's 101 (upgrade.ts). No per-chunk processing:
// buffers move as read, with backpressure both ways, and half-closes (FIN) follow in order.

import { type NetConnectOpts, connect as netConnect, type Socket } from "node:net";
import type { Exchange } from "./exchange.ts";
import type { ProxyLimits } from "./limits.ts";
import type { ProxyMetrics } from "./proxy-metrics.ts";

/**
 * Relay until either side is closed (then both are), or both were idle for
 * `upstreamIdleTimeoutMs`. `first` is written to the origin before anything else (bytes the
 * client sent ahead of the relay). Resolves once both sockets are closed.
 */
export function relay(
  ex: Exchange,
  client: Socket,
  up: Socket,
  first: Buffer | undefined,
  limits: ProxyLimits,
  metrics: ProxyMetrics,
): Promise<void> {
  metrics.activeTunnels.inc();
  return new Promise<void>((resolve) => {
    let open = 2;
    const onClose = () => {
      // Once one side is fully closed nothing more can be relayed: tear the other down.
      client.destroy();
      up.destroy();
      if (--open === 0) {
        metrics.activeTunnels.dec();
        resolve();
      }
    };
    // A side that closed while the relay was being set up has already fired its "close".
    if (client.closed) queueMicrotask(onClose);
    else client.once("close", onClose);
    if (up.closed) queueMicrotask(onClose);
    else up.once("close", onClose);
    client.on("error", () => up.destroy());
    up.on("error", () => client.destroy());
    const idle = () => {
      ex.reason ??= "upstream_timeout";
      client.destroy();
      up.destroy();
    };
    client.setTimeout(limits.upstreamIdleTimeoutMs, idle);
    up.setTimeout(limits.upstreamIdleTimeoutMs, idle);
    if (first !== undefined && first.length > 0) up.write(first);
    forward(client, up);
    forward(up, client);
    client.resume();
  });
}

/** Bytes per read for sockets we dial: what node reads per call anyway, but allocated once. */
const READ_BUFFER_BYTES = 64 * 1024;

type Sink = (nread: number, buf: Buffer) => boolean;

/** Where each socket dialled by connectForRelay() writes what it reads, set by relay(). */
const sinkOf = new WeakMap<Socket, Sink | undefined>();

/**
 * net.connect() for a socket whose data will be relayed: it reads into one buffer of its own,
 * reused for every read, instead of a fresh 64 KiB buffer per read (at tunnel speeds those
 * allocations, and the garbage collections they trigger, cost more than the copying). Paused
 * until relay() starts; reading before that is not possible.
 */
export function connectForRelay(opts: NetConnectOpts): Socket {
  const socket: Socket = netConnect({
    ...opts,
    onread: {
      buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
      callback: (nread: number, buf: Uint8Array): boolean => {
        const sink = sinkOf.get(socket);
        return sink === undefined ? false : sink(nread, buf as Buffer);
      },
    },
  } as NetConnectOpts);
  sinkOf.set(socket, undefined);
  socket.pause();
  return socket;
}

/** Bytes from `from` to `to` with backpressure, and `from`'s end forwarded as `to`'s FIN. */
function forward(from: Socket, to: Socket): void {
  from.once("end", () => to.end());
  if (sinkOf.has(from)) {
    // The read buffer is reused: each chunk must be out of it before the next read. A write
    // that the kernel did not take at once keeps a reference, so reading pauses until it is
    // flushed (its callback).
    let waiting = false;
    const flushed = () => {
      if (waiting) {
        waiting = false;
        from.resume();
      }
    };
    sinkOf.set(from, (nread, buf) => {
      if (to.destroyed) return false;
      to.write(buf.subarray(0, nread), flushed);
      if (to.writableLength === 0) return true;
      waiting = true;
      return false;
    });
    from.resume();
    return;
  }
  const resume = () => from.resume();
  from.on("data", (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once("drain", resume);
    }
  });
}
