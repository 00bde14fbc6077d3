// Stage peek-client-hello: read the client's TLS ClientHello for its SNI without terminating
// TLS. After establish-tunnel, before policy-sni: peeking before dialling means an SNI-blocked
// tunnel never touches the destination. The bytes read are kept (`ex.firstFlight`) and relayed
// first once the tunnel is connected.

import {
  type ClientHelloResult,
  MAX_CLIENT_HELLO_BYTES,
  parseClientHello,
} from "../client-hello.ts";
import { answer, type Exchange, type Outcome, type Stage } from "../exchange.ts";
import type { ProxyLimits } from "../limits.ts";

/** Read until a ClientHello is complete, the client is shown not to speak TLS, or time is up. */
export function createPeekClientHello(limits: ProxyLimits): Stage {
  return {
    name: "peek-client-hello",
    run(ex: Exchange): Promise<Outcome> {
      const socket = ex.socket;
      let buf = ex.firstFlight ?? Buffer.alloc(0);
      return new Promise<Outcome>((resolve) => {
        const finish = (o: Outcome) => {
          clearTimeout(timer);
          socket.off("data", onData);
          socket.off("close", onClose);
          socket.off("end", onClose);
          socket.pause();
          ex.firstFlight = buf;
          resolve(o);
        };
        const judge = (r: ClientHelloResult): boolean => {
          if (r.status === "incomplete") {
            if (buf.length < MAX_CLIENT_HELLO_BYTES) return false;
            finish(answer(ex, 0, "no_client_hello", "ClientHello too large"));
            return true;
          }
          if (r.status === "ok") {
            ex.sni = r.sni;
            ex.tlsHello = true;
          }
          if (r.status === "malformed") {
            // A hello we cannot read might still be accepted by the origin with an SNI our
            // policies never saw: refuse rather than let it through unchecked.
            finish(answer(ex, 0, "no_client_hello", `malformed ClientHello: ${r.detail}`));
            return true;
          }
          finish("next"); // ok, or not TLS at all: policies see no SNI
          return true;
        };
        const onData = (chunk: Buffer) => {
          buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
          judge(parseClientHello(buf));
        };
        const onClose = () => finish("drop");
        // Server-speaks-first protocols send nothing: after the wait, go on without an SNI.
        const timer = setTimeout(() => {
          if (buf.length === 0) finish("next");
          else finish(answer(ex, 0, "no_client_hello", "incomplete ClientHello"));
        }, limits.clientHelloTimeoutMs);
        if (buf.length > 0 && judge(parseClientHello(buf))) return;
        // `on`, not `once`: finish takes all three off (no once-wrapper per connection).
        socket.on("data", onData);
        socket.on("close", onClose);
        // The listener keeps half-open sockets (allowHalfOpen): a client that ends before its
        // ClientHello is complete will send nothing more to judge.
        socket.on("end", onClose);
        socket.resume();
      });
    },
  };
}
