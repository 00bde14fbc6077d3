// Stage serve-pac: the one stage of the PAC pipeline, for requests sent in origin-form (not proxy
// requests). `GET /proxy.pac` (or HEAD) is answered with the proxy auto-config file for the
// client's location, rendered for the proxy address the client used (its Host, if a plain
// authority; else the local socket address) and cached per snapshot. The same framing checks as
// proxied requests come first: this connection may carry more requests. A client outside every
// location gets 403 (unless the bundle admits unknown clients); any other origin-form request is
// not a proxy request: 400.

import { answer, type Exchange, type Outcome, type Stage } from "../exchange.ts";
import { isSafeAuthority, renderPac } from "../pac.ts";
import { proxyConfigOf } from "../proxy-config.ts";
import { checkRequestHead, type HeadCheckConfig } from "../request-head.ts";

const PAC_TYPE = "application/x-ns-proxy-autoconfig";
/** Browsers re-read the PAC file after this long. */
const PAC_MAX_AGE_SECONDS = 300;
/** Rendered PAC bodies kept per snapshot (one per proxy address clients use). */
const MAX_PAC_AUTHORITIES = 64;

export function createServePac(cfg: HeadCheckConfig): Stage {
  return {
    name: "serve-pac",
    run(ex: Exchange): Outcome {
      const req = ex.req;
      const problem = checkRequestHead(req, cfg);
      if (problem !== undefined) return answer(ex, problem.status, problem.reason, problem.detail);
      const q = req.url.indexOf("?");
      ex.path = q < 0 ? req.url : req.url.slice(0, q);
      if (ex.path !== "/proxy.pac" || (ex.method !== "GET" && ex.method !== "HEAD")) {
        return answer(
          ex,
          400,
          "bad_target",
          "not a proxy request (send absolute-form URLs, or GET /proxy.pac)",
        );
      }
      const cfgOf = proxyConfigOf(ex.snapshot);
      ex.location = ex.snapshot.locations.bySource(ex.clientIp);
      if (ex.location === undefined && !cfgOf.allowUnknownClients) {
        return answer(
          ex,
          403,
          "unknown_client",
          "this client is not in any location of the gateway",
        );
      }
      const host = req.header("host");
      const local = req.socket.localAddress ?? "127.0.0.1";
      const authority =
        host !== undefined && isSafeAuthority(host)
          ? host
          : `${local.includes(":") ? `[${local}]` : local}:${req.socket.localPort}`;
      let body = cfgOf.pacByAuthority.get(authority);
      if (body === undefined) {
        body = Buffer.from(renderPac(cfgOf.bypassDomains, authority));
        if (cfgOf.pacByAuthority.size >= MAX_PAC_AUTHORITIES) cfgOf.pacByAuthority.clear();
        cfgOf.pacByAuthority.set(authority, body);
      }
      ex.answer = {
        status: 200,
        reason: undefined,
        detail: "",
        maxAgeSeconds: PAC_MAX_AGE_SECONDS,
        content: { type: PAC_TYPE, body },
      };
      return "respond";
    },
  };
}
