// Stage check-upgrade: first of the upgrade pipeline (RFC 9110 §7.8, WebSocket handshakes per
// RFC 6455 §4). A plain-HTTP request carrying `Connection: upgrade` and `Upgrade: <protocols>`
// whose framing we would have to guess is refused before anything else runs: the connection loop
// hands over the raw socket right after the head.

import { answer, type Exchange, type Outcome, type Stage } from "../exchange.ts";

// RFC 9110 §7.8: Upgrade = #protocol, protocol = protocol-name ["/" protocol-version] (tokens).
const UPGRADE_LIST =
  /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(\/[!#$%&'*+.^_`|~0-9A-Za-z-]+)?(\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+(\/[!#$%&'*+.^_`|~0-9A-Za-z-]+)?)*$/;

/** Before identify: an upgrade request whose framing we would have to guess is refused. */
export function createCheckUpgrade(): Stage {
  return {
    name: "check-upgrade",
    run(ex: Exchange): Outcome {
      const value = ex.req.header("upgrade") ?? "";
      if (!UPGRADE_LIST.test(value)) {
        return answer(ex, 400, "bad_request", "invalid Upgrade header");
      }
      // The connection loop hands over the raw socket right after the head, so a body would be
      // ours to frame; handshakes carry none (RFC 6455 §4.1 is a GET), so refuse instead of guessing.
      if (ex.req.hasBody) {
        return answer(ex, 400, "bad_request", "an upgrade request with a body is not supported");
      }
      if (ex.req.httpVersionMinor !== 1) {
        return answer(ex, 400, "bad_request", "Upgrade needs HTTP/1.1");
      }
      return "next";
    },
  };
}
