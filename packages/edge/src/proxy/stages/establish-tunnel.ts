// Stage establish-tunnel: answer the CONNECT with 200 (RFC 9110 §9.3.6). After the admission
// stages (policies on the CONNECT authority, resolution and the address guard all came first, so
// their refusals are still proper HTTP answers), before peek-client-hello: from here on the client
// speaks its own protocol (TLS) and answers can no longer be HTTP responses.

import type { Exchange, Outcome, Stage } from "../exchange.ts";

const ESTABLISHED = Buffer.from("HTTP/1.1 200 Connection Established\r\n\r\n", "latin1");

export function createEstablishTunnel(): Stage {
  return {
    name: "establish-tunnel",
    run(ex: Exchange): Outcome {
      // RFC 9110 §9.3.6: any 2xx turns the connection into a tunnel; no body, no framing.
      ex.socket.write(ESTABLISHED);
      ex.established = true;
      ex.status = 200;
      return "next";
    },
  };
}
