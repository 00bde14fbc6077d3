// Stage max-forwards: TRACE and OPTIONS carry a hop limit (RFC 9110 §7.6.2). A request that
// arrives with `Max-Forwards: 0` is answered here, as its final recipient: TRACE with the
// request as received (message/http, RFC 9110 §9.3.8), OPTIONS with an empty 200 (§9.3.7).
// Otherwise the value is kept on the exchange and upstream-request forwards it decremented.
// After policy-request (a policy may still block such a request), before resolve-peer (an
// answer of our own needs no lookup and no connection). Other methods' Max-Forwards is not
// ours to act on (§7.6.2: a recipient MAY ignore it) and passes through unchanged.

import { answer, type Exchange, type Outcome, type Stage } from "../exchange.ts";
import { fieldName, fieldValue } from "../field-list.ts";

/** The largest Max-Forwards we forward (RFC 9110 §7.6.2: "the recipient's maximum supported"). */
const MAX_SUPPORTED = 255;

/**
 * Fields left out of a TRACE echo: credentials and cookies, which a reflected request would hand
 * to whatever script made it (cross-site tracing; RFC 9110 §9.3.8 asks the final recipient to
 * exclude fields likely to carry sensitive data).
 */
const NOT_ECHOED: ReadonlySet<string> = new Set(["authorization", "proxy-authorization", "cookie"]);

/** The request head as received, sensitive fields excluded: a TRACE answer's content. */
export function traceEcho(ex: Exchange): Buffer {
  const req = ex.req;
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = fieldName(raw, i);
    if (NOT_ECHOED.has(name.toLowerCase())) continue;
    head += `${name}: ${fieldValue(raw, i)}\r\n`;
  }
  // Field values may carry obs-text: latin1 keeps every byte as received.
  return Buffer.from(`${head}\r\n`, "latin1");
}

const EMPTY = Buffer.alloc(0);

export function createMaxForwards(): Stage {
  return {
    name: "max-forwards",
    run(ex: Exchange): Outcome {
      const m = ex.method;
      if (m !== "TRACE" && m !== "OPTIONS") return "next";
      const raw = ex.req.rawHeaders;
      let value = "";
      let count = 0;
      for (let i = 0; i < raw.length; i += 2) {
        const name = fieldName(raw, i);
        if (name.length === 12 && name.toLowerCase() === "max-forwards") {
          value = fieldValue(raw, i);
          count++;
        }
      }
      if (count === 0) return "next";
      // Max-Forwards = 1*DIGIT, once: a value we cannot read is not guessed at.
      if (count > 1 || !/^[0-9]{1,10}$/.test(value)) {
        return answer(ex, 400, "bad_request", "invalid or repeated Max-Forwards");
      }
      const n = Number(value);
      if (n > 0) {
        ex.maxForwards = Math.min(n - 1, MAX_SUPPORTED);
        return "next";
      }
      ex.answer = {
        status: 200,
        reason: "max_forwards",
        detail: "answered by the proxy (Max-Forwards: 0)",
        content:
          m === "TRACE"
            ? { type: "message/http", body: traceEcho(ex) }
            : { type: undefined, body: EMPTY },
      };
      ex.reason = "max_forwards";
      return "respond";
    },
  };
}
