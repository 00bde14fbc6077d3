// Fills the rules fields of the `net` and `http` schemes from an exchange. Only fields some
// policy reads are set (PolicySet.queryFields, computed at compile time), so a bundle without
// header rules never builds a header map. Node hands header values over as latin1 strings (one
// char per byte), which is the engine's binary-string form for Bytes: set without re-encoding.

import { domainsOf } from "@gatehouse/contract/schemes";
import { type ExecutionContext, MapValue } from "@gatehouse/rules";
import type { Exchange } from "./exchange.ts";
import { fieldName, fieldValue } from "./field-list.ts";

function fillIdentity(ctx: ExecutionContext, ex: Exchange, fields: ReadonlySet<string>): void {
  if (fields.has("dns.location") && ex.location) ctx.setText("dns.location", ex.location.id);
  const id = ex.identity;
  if (id === undefined) return;
  if (id.email !== undefined && fields.has("identity.email"))
    ctx.setText("identity.email", id.email);
  if (fields.has("identity.name")) ctx.setText("identity.name", id.name);
  if (fields.has("identity.groups.name")) ctx.setText("identity.groups.name", id.groups);
}

/**
 * Network fields. Before the ClientHello is seen (the CONNECT request itself), the SNI is
 * presumed to be the CONNECT host, so SNI rules decide the 403 up front; once the real
 * ClientHello arrives the policies run again on what the client actually sent.
 */
export function fillNet(
  ctx: ExecutionContext,
  ex: Exchange,
  fields: ReadonlySet<string>,
  sniSeen: boolean,
): void {
  ctx.reset();
  if (fields.has("net.src.ip")) ctx.set("net.src.ip", ex.clientIp);
  if (fields.has("net.src.port")) ctx.set("net.src.port", ex.clientPort);
  const dst = ex.peerIp !== "" ? ex.peerIp : ex.hostFamily !== 0 ? ex.host : "";
  if (dst !== "" && fields.has("net.dst.ip")) ctx.set("net.dst.ip", dst);
  if (fields.has("net.dst.port")) ctx.set("net.dst.port", ex.port);
  if (fields.has("net.protocol")) ctx.set("net.protocol", "tcp");
  if (fields.has("net.connect.host")) ctx.set("net.connect.host", ex.host);
  if (ex.hostFamily === 0 && fields.has("net.connect.domains"))
    ctx.set("net.connect.domains", domainsOf(ex.host));
  const sni = sniSeen ? ex.sni : ex.hostFamily === 0 ? ex.host : undefined;
  if (sni !== undefined) {
    if (fields.has("net.sni.host")) ctx.set("net.sni.host", sni);
    if (fields.has("net.sni.domains")) ctx.set("net.sni.domains", domainsOf(sni));
  }
  if (fields.has("net.sni.mismatch"))
    ctx.set("net.sni.mismatch", sni !== undefined && sni !== ex.host);
  fillIdentity(ctx, ex, fields);
}

/** The header map when none of the fields read is present (immutable, so shared). */
const NO_FIELDS = new MapValue([]);

/** Every char is one byte (what the rules engine's Bytes values are). */
function isBinaryString(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false;
  return true;
}

/** Does `name` equal `lower` (lowercase) ignoring ASCII case? Allocates nothing. */
function sameNameLower(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 128) return name.toLowerCase() === lower; // not a token char: toLowerCase's answer
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * `fields`, `headerNames`: PolicySet.queryFields and .queryHeaderNames — with the names known
 * (every policy reads `http.request.headers["name"]`) only those enter the header map: a
 * policy cannot tell the difference, and the other fields are neither lowercased nor grouped.
 */
export function fillHttp(
  ctx: ExecutionContext,
  ex: Exchange,
  fields: ReadonlySet<string>,
  headerNames: readonly string[] | undefined,
): void {
  ctx.reset();
  if (fields.has("http.conn.hostname")) ctx.set("http.conn.hostname", ex.host);
  if (ex.hostFamily === 0 && fields.has("http.conn.domains"))
    ctx.set("http.conn.domains", domainsOf(ex.host));
  if (fields.has("http.conn.src_ip")) ctx.set("http.conn.src_ip", ex.clientIp);
  const dst = ex.peerIp !== "" ? ex.peerIp : ex.hostFamily !== 0 ? ex.host : "";
  if (dst !== "" && fields.has("http.conn.dst_ip")) ctx.set("http.conn.dst_ip", dst);
  if (fields.has("http.conn.dst_port")) ctx.set("http.conn.dst_port", ex.port);
  if (fields.has("http.request.uri")) ctx.set("http.request.uri", ex.req.url);
  if (fields.has("http.request.uri.path")) ctx.set("http.request.uri.path", ex.path);
  if (fields.has("http.request.uri.query")) ctx.set("http.request.uri.query", ex.query);
  if (fields.has("http.request.uri.path_and_query")) {
    ctx.set(
      "http.request.uri.path_and_query",
      ex.query === "" ? ex.path : `${ex.path}?${ex.query}`,
    );
  }
  if (fields.has("http.request.method")) ctx.set("http.request.method", ex.method);
  if (fields.has("http.request.version"))
    ctx.set("http.request.version", `HTTP/${ex.req.httpVersion}`);
  const wantHeaders = fields.has("http.request.headers");
  const wantNames = fields.has("http.request.headers.names");
  if (wantHeaders || wantNames) {
    const raw = ex.req.rawHeaders;
    // Names lowercased, values grouped by name in arrival order: the rules engine's map value,
    // built here at once (no Map to convert) when every value is a binary string, as HTTP/1
    // values read as latin1 always are.
    const pairs: [string, string[]][] = [];
    // A few fields are grouped by a scan of those seen; many, through an index.
    const index = raw.length > 32 ? new Map<string, string[]>() : undefined;
    let binary = true;
    // Only the names policies read, when that is all they need (names not asked for).
    const only = wantNames ? undefined : headerNames;
    for (let i = 0; i < raw.length; i += 2) {
      let name = fieldName(raw, i);
      if (only !== undefined) {
        let wanted: string | undefined;
        for (let k = 0; k < only.length; k++) {
          const n = only[k] as string;
          if (sameNameLower(name, n)) {
            wanted = n;
            break;
          }
        }
        if (wanted === undefined) continue;
        name = wanted;
      } else name = name.toLowerCase();
      const value = fieldValue(raw, i);
      if (binary && !isBinaryString(value)) binary = false;
      let list: string[] | undefined;
      if (index !== undefined) list = index.get(name);
      else {
        for (const p of pairs) {
          if (p[0] === name) {
            list = p[1];
            break;
          }
        }
      }
      if (list !== undefined) list.push(value);
      else {
        const values = [value];
        pairs.push([name, values]);
        index?.set(name, values);
      }
    }
    // Names in arrival order (MapValue sorts the pairs it is given).
    if (wantNames)
      ctx.set(
        "http.request.headers.names",
        pairs.map((p) => p[0]),
      );
    if (wantHeaders) {
      ctx.set(
        "http.request.headers",
        pairs.length === 0 ? NO_FIELDS : binary ? new MapValue(pairs) : new Map(pairs),
      );
    }
  }
  fillIdentity(ctx, ex, fields);
}
