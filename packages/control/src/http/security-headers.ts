// Security headers of every answer outside the dashboard's files (those set their own, with the
// dashboard's CSP): no MIME sniffing, no Referer leaving the API, and no caching anywhere of an
// answer to a route that needs a credential (a shared cache must never keep one account's data,
// and a browser must not keep it on disk). The docs page gets its own CSP: Swagger UI's files
// are all external scripts and styles of this origin, and it fetches only this origin's JSON.

import type { FastifyInstance } from "fastify";
import { DASHBOARD_CSP } from "./dashboard.ts";

/**
 * One inline style Swagger UI applies as it renders (the browser test in
 * dashboard/test/dashboard-e2e.test.ts reports its hash if a new Swagger UI changes it).
 */
const SWAGGER_UI_INLINE_STYLE = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='";

/**
 * The Swagger UI page under /api/v1/docs: like the dashboard, its own files and this origin's
 * JSON only (its page has no inline script), plus that one inline style, allowed by its hash.
 */
export const DOCS_CSP = DASHBOARD_CSP.replace(
  "style-src 'self'",
  `style-src 'self' 'unsafe-hashes' ${SWAGGER_UI_INLINE_STYLE}`,
);

export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook("onSend", async (req, reply, payload) => {
    if (!reply.hasHeader("x-content-type-options"))
      reply.header("x-content-type-options", "nosniff");
    if (!reply.hasHeader("referrer-policy")) reply.header("referrer-policy", "no-referrer");
    const access = req.routeOptions.config?.access;
    // Every guarded route, its 401/403/429 answers included.
    if (access !== undefined && access !== "public") reply.header("cache-control", "no-store");
    return payload;
  });
}
