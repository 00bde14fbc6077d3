// Do53 over UDP (RFC 1035 §4.2.1). One socket per listen address; each datagram is handled
// independently and errors never escape (a bad packet gets FORMERR or silence, the socket keeps
// serving). `reusePort` lets several worker processes own a socket on the same port (Node 24).
// Where the batch socket addon is built (udp-batch.ts), it serves instead of node:dgram.

import { createSocket } from "node:dgram";
import { isIPv6 } from "node:net";
import { splitHostPort } from "../../net/host-port.ts";
import { udpSendQueueDrops } from "../../telemetry/metrics.ts";
import type { DnsService } from "../dns-service.ts";
import { InFlight } from "./in-flight.ts";
import { batchAddon, listenUdpBatch } from "./udp-batch.ts";

export interface UdpListener {
  readonly host: string;
  readonly port: number;
  /** "batch": the recvmmsg/sendmmsg socket of native/udp_batch.c; "dgram": node:dgram. */
  readonly mode: "batch" | "dgram";
  /** Stop answering new queries, wait (up to graceMs) for those in flight, then unbind. */
  close(graceMs?: number): Promise<void>;
}

/** Answers queued in the node:dgram socket (not yet taken by the kernel) before more are dropped. */
export const MAX_UDP_SEND_QUEUE = 4096;

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

function literalLookup(address: string, _opts: unknown, cb: LookupCallback): void {
  cb(null, address, address.includes(":") ? 6 : 4);
}

export async function listenUdp(
  service: DnsService,
  addr: string,
  opts: { reusePort?: boolean; batch?: boolean } = {},
): Promise<UdpListener> {
  const { host, port } = splitHostPort(addr);
  const lib = opts.batch === false ? undefined : batchAddon();
  if (lib) return listenUdpBatch(lib, service, host, port, opts.reusePort === true);
  const socket = createSocket({
    type: isIPv6(host) ? "udp6" : "udp4",
    reuseAddr: opts.reusePort === true,
    ...(opts.reusePort ? { reusePort: true } : {}),
    // Replies always go to the literal source address of a query: skip the resolver round trip
    // (dns.lookup defers every send by a tick even for IP literals).
    lookup: literalLookup,
  });
  const inFlight = new InFlight();
  const drops = udpSendQueueDrops();
  // libuv queues a datagram the kernel cannot take yet, without a bound: past this many queued
  // answers, drop (UDP clients retry; the batch socket drops at once with MSG_DONTWAIT).
  const send = (out: Buffer, port: number, address: string) => {
    if (socket.getSendQueueCount() >= MAX_UDP_SEND_QUEUE) drops.inc();
    else socket.send(out, port, address);
  };
  socket.on("message", (msg, rinfo) => {
    if (!inFlight.accepting) return;
    const fast = service.tryFast(msg, rinfo.address, "udp");
    if (fast) {
      send(fast, rinfo.port, rinfo.address);
      return;
    }
    if (!inFlight.enter()) return;
    service.handle(msg, { transport: "udp", ip: rinfo.address, port: rinfo.port }).then((out) => {
      // A reply that comes after close() gave up waiting has no socket to go out on.
      if (out && !inFlight.released) send(out, rinfo.port, rinfo.address);
      inFlight.leave();
    }, inFlight.leave);
  });
  // Per-datagram send errors (e.g. ICMP unreachable reported late) must not kill the listener.
  socket.on("error", () => {});
  await new Promise<void>((ok, fail) => {
    socket.once("error", fail);
    // exclusive: in a cluster worker, own the socket (with SO_REUSEPORT) instead of sharing
    // the primary's handle.
    socket.bind({ port, address: host, exclusive: opts.reusePort === true }, () => {
      socket.off("error", fail);
      ok();
    });
  });
  const bound = socket.address();
  return {
    host: bound.address,
    mode: "dgram",
    port: bound.port,
    close: (graceMs = 0) =>
      inFlight.close(graceMs, () => new Promise<void>((ok) => socket.close(() => ok()))),
  };
}
