// The web dashboard's files (packages/dashboard/dist, built by `npm install`) at `/`. One public
// GET route `/*`: a file of dist with its media type; any other path without a file extension
// is a client-side route and gets index.html (SPA fallback). The route never shadows the API:
// a path under /api/ that no API route matched gets the API's JSON 404. The files are public;
// everything the app then does goes through the bearer-guarded API.

import { readFile, stat } from "node:fs/promises";
import { dirname, extname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/**
 * The page may load only its own scripts, styles and images and call only its own origin; no
 * inline script, no framing (Vite's build emits external files only).
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".webp": "image/webp",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".webmanifest": "application/manifest+json",
};

/** Vite names built assets with a content hash: they never change under the same name. */
const HASHED_PREFIX = "/assets/";
const IMMUTABLE = "public, max-age=31536000, immutable";
/** The client page's route (`clients/<IPv4 or IPv6 address>`), whose last segment has dots. */
const CLIENT_PAGE = /^clients\/[0-9A-Fa-f.:]+$/;

/** A file of dist larger than this is not ours; refuse rather than read it into memory. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

/** dist/ of the @gatehouse/dashboard workspace package, when it is installed beside control. */
export function defaultDashboardDir(): string | undefined {
  try {
    const pkg = fileURLToPath(import.meta.resolve("@gatehouse/dashboard/package.json"));
    return join(dirname(pkg), "dist");
  } catch {
    return undefined;
  }
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gatehouse</title></head>
<body><h1>The Gatehouse dashboard is not built</h1>
<p>Build it from the repository root with <code>npm run build -w packages/dashboard</code>
(<code>npm install</code> does this), then reload. The API is at <a href="/api/v1/docs">/api/v1/docs</a>.</p>
</body></html>
`;

function isApiPath(path: string): boolean {
  return path === "/api" || path.startsWith("/api/");
}

/** The decoded path relative to dist, or undefined when it could leave dist or is malformed. */
function safeRelative(path: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return undefined;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return undefined;
  const parts = decoded.split("/").filter((p) => p !== "");
  if (parts.some((p) => p === "." || p === ".." || p.startsWith("."))) return undefined;
  return parts.join("/");
}

interface FileInfo {
  size: number;
  /** Weak validator from size and modification time (RFC 9110 §8.8.1). */
  etag: string;
}

async function fileInfo(path: string): Promise<FileInfo | undefined> {
  try {
    const s = await stat(path);
    if (!s.isFile()) return undefined;
    return {
      size: s.size,
      etag: `W/"${s.size.toString(16)}-${Math.floor(s.mtimeMs).toString(16)}"`,
    };
  } catch {
    return undefined;
  }
}

/** RFC 9110 §13.1.2: If-None-Match compares weakly; `*` matches any current file. */
function notModified(req: FastifyRequest, etag: string): boolean {
  const h = req.headers["if-none-match"];
  if (typeof h !== "string") return false;
  const tags = h.split(",").map((t) => t.trim().replace(/^W\//, ""));
  return tags.includes("*") || tags.includes(etag.replace(/^W\//, ""));
}

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header("content-security-policy", DASHBOARD_CSP)
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("x-frame-options", "DENY");
}

function plainNotFound(reply: FastifyReply, path: string): FastifyReply {
  return securityHeaders(reply)
    .status(404)
    .header("content-type", "text/plain; charset=utf-8")
    .header("cache-control", "no-cache")
    .send(`not found: ${path}\n`);
}

export function registerDashboard(app: FastifyInstance, dir: string | undefined): void {
  const root = dir === undefined ? undefined : dir.endsWith(sep) ? dir : dir + sep;

  const send = async (
    req: FastifyRequest,
    reply: FastifyReply,
    file: string,
    info: FileInfo,
    cache: string,
  ) => {
    securityHeaders(reply)
      .header("content-type", TYPES[extname(file).toLowerCase()] ?? "application/octet-stream")
      .header("cache-control", cache)
      .header("etag", info.etag);
    if (notModified(req, info.etag)) return reply.status(304).send();
    return reply.send(await readFile(file));
  };

  app.get(
    "/*",
    { config: { access: "public" }, schema: { hide: true } },
    async (req: FastifyRequest, reply: FastifyReply) => {
      const [path = ""] = req.url.split("?", 1);
      if (isApiPath(path)) return reply.callNotFound();
      const rel = safeRelative(path);
      if (rel === undefined) return plainNotFound(reply, path);
      const index = `${root ?? ""}index.html`;
      const indexInfo = root === undefined ? undefined : await fileInfo(index);
      if (indexInfo === undefined)
        return securityHeaders(reply)
          .status(503)
          .header("content-type", "text/html; charset=utf-8")
          .header("cache-control", "no-store")
          .send(NOT_BUILT);
      if (rel !== "" && rel !== "index.html") {
        const file = root + rel;
        const info = await fileInfo(file);
        if (info !== undefined && info.size <= MAX_FILE_BYTES)
          return send(
            req,
            reply,
            file,
            info,
            path.startsWith(HASHED_PREFIX) ? IMMUTABLE : "no-cache",
          );
        // A missing file (an asset, anything with an extension) is a 404, never the app: a
        // stale page asking for an old hashed script must not get HTML back as JavaScript.
        // A client's page is the exception: its address (`/clients/192.168.1.23`) has dots.
        if (
          info !== undefined ||
          path.startsWith(HASHED_PREFIX) ||
          (extname(rel) !== "" && !CLIENT_PAGE.test(rel))
        )
          return plainNotFound(reply, path);
      }
      // `/`, index.html and client-side routes: the app decides what to show.
      return send(req, reply, index, indexInfo, "no-cache");
    },
  );
}
