// Relaying bytes both ways between a client socket and an origin socket, once neither side
// speaks HTTP to us any more: a CONNECT tunnel after the ClientHello peek
// (stages/relay-tunnel.ts) and a protocol upgrade (WebSocket) after the origin's 101
// (stages/switch-protocols.ts). No per-chunk processing: buffers move as read, with
// backpressure both ways, and half-closes (FIN) follow in order.
//
// Two ways to do it. Where `native/tunnel_splice.c` is built (Linux), the kernel moves the
// bytes: the addon splices them between the two sockets through a pipe per direction and no
// JavaScript runs until the relay ends. Otherwise (or with GATEHOUSE_TUNNEL_SPLICE=0, or for a
// socket without a descriptor of its own, e.g. TLS) Node reads and writes them.

import { type NetConnectOpts, connect as netConnect, type Socket } from "node:net";
import { loadNativeAddon } from "../native-addon.ts";
import type { Exchange } from "./exchange.ts";
import type { ProxyLimits } from "./limits.ts";
import type { ProxyMetrics } from "./proxy-metrics.ts";

/** What a relay moved, in bytes. */
export interface RelayBytes {
  /** Client to origin, `first` included. */
  up: number;
  /** Origin to client. */
  down: number;
  /** Of `up` and `down`, what the kernel moved: the client socket's own counters miss it. */
  kernelUp: number;
  kernelDown: number;
}

/** The addon's handle is a plain object it wraps; it answers nothing once the relay ended. */
interface SpliceAddon {
  start(
    handle: object,
    clientFd: number,
    upstreamFd: number,
    onDone: (up: number, down: number, error: string | null) => void,
  ): void;
  /** Bytes delivered each way so far and ms since bytes last moved; undefined once ended. */
  stats(handle: object): [number, number, number] | undefined;
  /** Stop now; onDone follows (error "ECANCELED"). */
  abort(handle: object): void;
}

let addon: SpliceAddon | null | undefined;

/** The splice relay addon, or undefined when it is not built or turned off. */
export function spliceAddon(): SpliceAddon | undefined {
  if (process.env.GATEHOUSE_TUNNEL_SPLICE === "0") return undefined;
  if (addon === undefined) {
    addon = null;
    if (process.platform === "linux") {
      addon =
        loadNativeAddon<SpliceAddon>("tunnel_splice", "tunnels are relayed in JavaScript") ?? null;
    }
  }
  return addon ?? undefined;
}

/** Node internals the handover needs: the handle's descriptor and its reading flag. */
interface StreamHandle {
  fd?: number;
  reading?: boolean;
  readStart?(): number;
  readStop?(): number;
}

function handleOf(socket: Socket): StreamHandle | null | undefined {
  return (socket as Socket & { _handle?: StreamHandle | null })._handle;
}

/** A plain TCP socket with a descriptor of its own (not TLS, not closing). */
function spliceable(socket: Socket): boolean {
  const fd = handleOf(socket)?.fd;
  return (
    typeof fd === "number" &&
    fd >= 0 &&
    !socket.destroyed &&
    !(socket as Socket & { encrypted?: boolean }).encrypted
  );
}

/** A relay: `first` is written to the origin before anything else. */
type Relay = (
  ex: Exchange,
  client: Socket,
  up: Socket,
  first: Buffer | undefined,
  limits: ProxyLimits,
  metrics: ProxyMetrics,
) => Promise<RelayBytes>;

/**
 * Relay until either side is closed (then both are), or both were idle for
 * `upstreamIdleTimeoutMs`. `first` is written to the origin before anything else (bytes the
 * client sent ahead of the relay). Resolves once both sockets are closed, with the bytes moved.
 */
export const relay: Relay = (ex, client, up, first, limits, metrics) => {
  const spliced = spliceAddon() !== undefined && spliceable(client) && spliceable(up);
  return (spliced ? relaySpliced : relayInNode)(ex, client, up, first, limits, metrics);
};

/** Relay between the exchange's client socket and `up`, the bytes read ahead of it first. */
export function relayExchange(
  ex: Exchange,
  up: Socket,
  limits: ProxyLimits,
  metrics: ProxyMetrics,
): Promise<RelayBytes> {
  const first = ex.firstFlight;
  ex.firstFlight = undefined;
  return relay(ex, ex.socket, up, first, limits, metrics);
}

const relayInNode: Relay = (ex, client, up, first, limits, metrics) => {
  metrics.activeTunnels.inc();
  const written0 = up.bytesWritten;
  const read0 = up.bytesRead;
  return new Promise<RelayBytes>((resolve) => {
    let open = 2;
    const onClose = () => {
      // Once one side is fully closed nothing more can be relayed: tear the other down.
      client.destroy();
      up.destroy();
      if (--open === 0) {
        metrics.activeTunnels.dec();
        resolve({
          up: up.bytesWritten - written0,
          down: up.bytesRead - read0,
          kernelUp: 0,
          kernelDown: 0,
        });
      }
    };
    // A side that closed while the relay was being set up has already fired its "close".
    if (client.closed) queueMicrotask(onClose);
    else client.once("close", onClose);
    if (up.closed) queueMicrotask(onClose);
    else up.once("close", onClose);
    client.on("error", () => up.destroy());
    up.on("error", () => client.destroy());
    // Bytes read from either socket, and written ones the kernel took: any of them is traffic.
    const moved = () =>
      client.bytesRead +
      up.bytesRead +
      client.bytesWritten +
      up.bytesWritten -
      client.writableLength -
      up.writableLength;
    let confirming = false;
    const idle = () => {
      if (confirming) return;
      confirming = true;
      const before = moved();
      // After a stall of this process the sockets' timers fire before their waiting bytes are
      // read (confirmIdleLater); traffic since then re-arms the timers by itself.
      confirmIdleLater(limits.upstreamIdleTimeoutMs, () => {
        confirming = false;
        if (moved() !== before || client.destroyed) return;
        ex.reason ??= "upstream_timeout";
        client.destroy();
        up.destroy();
      });
    };
    client.setTimeout(limits.upstreamIdleTimeoutMs, idle);
    up.setTimeout(limits.upstreamIdleTimeoutMs, idle);
    if (first !== undefined && first.length > 0) up.write(first);
    forward(client, up);
    forward(up, client);
    client.resume();
  });
};

/**
 * Calls `fn` after a short grace of running time (a tenth of the idle limit, 20–250 ms). An idle
 * verdict must wait for that: timers run before the loop polls, so after this process stalled (a
 * long callback, starved of CPU) a tunnel's idle time counts the stall, while its bytes waited in
 * the kernel all along. Moving them can take several turns of the loop — each poll frees what a
 * peer in this process needs before it can write again, and the spliced relay only sees a socket
 * ready at the next poll — so a fixed number of turns is not enough (CI once cut a busy spliced
 * tunnel after two). A tunnel that moved nothing during the grace is idle.
 */
function confirmIdleLater(idleLimitMs: number, fn: () => void): void {
  setTimeout(fn, Math.min(250, Math.max(20, Math.floor(idleLimitMs / 10))));
}

/**
 * Stop Node reading `socket` for good and take what it read but nobody consumed yet. The
 * handle's `reading` flag stays set, so a later read() or resume() does not start it again:
 * the descriptor belongs to the splice relay from now on.
 */
function takeOver(socket: Socket): Buffer[] {
  socket.pause();
  const h = handleOf(socket);
  if (h == null) throw new Error("a socket without a handle cannot be spliced");
  h.readStop?.();
  h.reading = true;
  // An EOF Node already saw must not end our writable side: the relay passes FINs on itself.
  halfOpenBefore.set(socket, socket.allowHalfOpen);
  socket.allowHalfOpen = true;
  socket.setTimeout(0);
  const chunks: Buffer[] = [];
  for (let c = socket.read() as Buffer | null; c !== null; c = socket.read() as Buffer | null) {
    chunks.push(c);
  }
  return chunks;
}

const halfOpenBefore = new WeakMap<Socket, boolean>();

/** The chunks as one buffer, without a copy when there is one. */
function joined(chunks: Buffer[]): Buffer {
  const first = chunks[0];
  return chunks.length === 1 && first !== undefined ? first : Buffer.concat(chunks);
}

/**
 * Undo takeOver() for a socket the splice relay could not take: Node reads it again. The read
 * takeOver() left pending (the stream still waits for it) is the one started here.
 */
function giveBack(socket: Socket): void {
  const h = handleOf(socket);
  if (h?.readStart !== undefined) {
    h.reading = true;
    h.readStart();
  }
  socket.allowHalfOpen = halfOpenBefore.get(socket) ?? socket.allowHalfOpen;
}

/** Write `data` (possibly nothing) and call back once it and all before it reached the kernel. */
function flush(socket: Socket, data: Buffer, done: (ok: boolean) => void): void {
  if (socket.destroyed || !socket.writable) {
    queueMicrotask(() => done(false));
    return;
  }
  if (data.length === 0 && socket.writableLength === 0) {
    queueMicrotask(() => done(true));
    return;
  }
  socket.write(data, (err) => done(err == null));
}

const relaySpliced: Relay = (ex, client, up, first, limits, metrics) => {
  const lib = spliceAddon();
  if (lib === undefined) return relayInNode(ex, client, up, first, limits, metrics);
  metrics.activeTunnels.inc();
  return new Promise<RelayBytes>((resolve) => {
    // What Node had read from each side goes out first, through Node, before the handover.
    const fromClient = takeOver(client);
    const fromUp = takeOver(up);
    if (first !== undefined && first.length > 0) fromClient.unshift(first);
    const toUp = joined(fromClient);
    const toClient = joined(fromUp);
    let handle: object | undefined;
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const end = (kernelUp: number, kernelDown: number) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      client.off("close", cut);
      up.off("close", cut);
      // The relay closed its duplicates; these close the sockets themselves.
      client.destroy();
      up.destroy();
      metrics.activeTunnels.dec();
      resolve({
        up: toUp.length + kernelUp,
        down: toClient.length + kernelDown,
        kernelUp,
        kernelDown,
      });
    };
    // Someone closed one of the sockets (the proxy shutting down, a write error while
    // flushing): the relay holds duplicates that would keep the connection up, so stop it.
    const cut = () => {
      if (handle !== undefined) lib.abort(handle);
      else end(0, 0);
    };
    client.once("close", cut);
    up.once("close", cut);
    const idleLimit = limits.upstreamIdleTimeoutMs;
    const checkIdle = (confirmed = false) => {
      if (handle === undefined) return;
      const s = lib.stats(handle);
      if (s === undefined) return;
      if (s[2] < idleLimit) timer = setTimeout(checkIdle, Math.max(1, idleLimit - s[2]));
      else if (!confirmed) confirmIdleLater(idleLimit, () => checkIdle(true));
      else {
        ex.reason ??= "upstream_timeout";
        lib.abort(handle);
      }
    };
    const start = () => {
      if (ended) return;
      if (client.destroyed || up.destroyed) {
        end(0, 0);
        return;
      }
      const h = {};
      try {
        const clientFd = handleOf(client)?.fd;
        const upFd = handleOf(up)?.fd;
        if (clientFd === undefined || upFd === undefined) throw new Error("no descriptor");
        lib.start(h, clientFd, upFd, (u, d) => end(u, d));
      } catch {
        // Out of descriptors or pipes: nothing was handed over, so Node relays this one (what
        // was read before is already out).
        ended = true;
        client.off("close", cut);
        up.off("close", cut);
        metrics.activeTunnels.dec();
        giveBack(client);
        giveBack(up);
        void relayInNode(ex, client, up, undefined, limits, metrics).then((m) =>
          resolve({ ...m, up: toUp.length + m.up, down: toClient.length + m.down }),
        );
        return;
      }
      handle = h;
      clearTimeout(timer);
      timer = setTimeout(checkIdle, idleLimit);
    };
    let pending = 2;
    const flushed = (ok: boolean) => {
      if (!ok) {
        client.destroy();
        up.destroy();
      } else if (--pending === 0) start();
    };
    // A side that takes nothing while the first bytes go out is idle too.
    timer = setTimeout(() => {
      ex.reason ??= "upstream_timeout";
      client.destroy();
      up.destroy();
    }, idleLimit);
    flush(up, toUp, flushed);
    flush(client, toClient, flushed);
  });
};

/** Bytes per read for sockets we dial: what node reads per call anyway, but allocated once. */
const READ_BUFFER_BYTES = 64 * 1024;

type Sink = (nread: number, buf: Buffer) => boolean;

/** Where each socket dialled by connectForRelay() writes what it reads, set by relay(). */
const sinkOf = new WeakMap<Socket, Sink | undefined>();

/**
 * net.connect() for a socket whose data will be relayed, paused until relay() starts, and kept
 * half-open when the destination ends first (the client may still be sending). When the
 * kernel will move its bytes (the splice addon), that is all. Otherwise it reads into one
 * buffer of its own, reused for every read, instead of a fresh 64 KiB buffer per read (at
 * tunnel speeds those allocations, and the garbage collections they trigger, cost more than
 * the copying); reading before relay() is not possible.
 */
export function connectForRelay(opts: NetConnectOpts): Socket {
  if (spliceAddon() !== undefined) {
    const plain = netConnect({ ...opts, allowHalfOpen: true });
    plain.pause();
    return plain;
  }
  const socket: Socket = netConnect({
    ...opts,
    allowHalfOpen: true,
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
  // A socket paused on purpose (connectForRelay) does not start flowing with a listener.
  from.resume();
}
