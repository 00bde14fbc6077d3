// Stage parse-target: what does the client want? Validates the request head (framing defences
// in request-head.ts) and splits the request-target into host, port, path and query. First,
// because every later stage (identity, policy, dialling) reads these, and a request whose
// framing or target is doubtful must be refused before anything acts on it.

import { isIP } from "node:net";
import { answer, type Exchange, type Outcome, required, type Stage } from "../exchange.ts";
import { proxyConfigOf } from "../proxy-config.ts";
import { checkRequestHead, type HeadCheckConfig } from "../request-head.ts";

export interface ParsedAuthority {
  host: string;
  family: 0 | 4 | 6;
  port: number;
}

// RFC 3986 §3.2.2 reg-name restricted to what DNS names use; anything else is refused rather
// than interpreted (percent-encoded or exotic hosts are a classic parser-differential vector).
const HOSTNAME = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/;

/** Parse `host[:port]` or `[v6][:port]`; undefined when invalid. */
export function parseAuthority(s: string, defaultPort: number): ParsedAuthority | undefined {
  let host: string;
  let rest: string;
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end < 0) return undefined;
    host = s.slice(1, end);
    // A zone id (RFC 6874 `[fe80::1%25eth0]`) names an interface of the sender's host: it means
    // nothing to the proxy and is not part of an http URI's authority (RFC 9110 §4.2.1).
    if (host.includes("%") || isIP(host) !== 6) return undefined;
    rest = s.slice(end + 1);
  } else {
    const colon = s.indexOf(":");
    host = colon < 0 ? s : s.slice(0, colon);
    rest = colon < 0 ? "" : s.slice(colon);
  }
  let port = defaultPort;
  if (rest !== "") {
    if (!/^:[0-9]{1,5}$/.test(rest)) return undefined;
    port = Number(rest.slice(1));
    if (port < 1 || port > 65535) return undefined;
  }
  if (port <= 0) return undefined;
  host = host.toLowerCase();
  const fam = isIP(host);
  if (fam === 6) return { host, family: 6, port };
  if (fam === 4) return { host, family: 4, port };
  if (host.length === 0 || host.length > 254 || !HOSTNAME.test(host)) return undefined;
  // A name that looks numeric but is not a dotted quad (e.g. "0x7f.1", "2130706433") is read as
  // an IPv4 address by some resolvers and libraries: refuse it instead of guessing.
  if (/^[0-9.]+$/.test(host) || /^0x/i.test(host)) return undefined;
  if (host.endsWith(".")) host = host.slice(0, -1);
  return { host, family: 0, port };
}

// Bytes a request-target may carry after the authority: visible ASCII minus "#" (RFC 9112 §3.2:
// no fragment) and "\" (WHATWG parsers read it as "/", origins do not: a differential).
const PATH_AND_QUERY = /^[!$-[\]-~]*$/;

export function createParseTarget(cfg: HeadCheckConfig): Stage {
  return {
    name: "parse-target",
    run(ex: Exchange): Outcome {
      const problem = checkRequestHead(ex.req, cfg);
      if (problem) return answer(ex, problem.status, problem.reason, problem.detail);
      const target = ex.req.url ?? "";
      if (ex.transport === "connect") return parseConnect(ex, target);
      if (ex.inspection !== undefined) return parseInspected(ex, target);
      // RFC 9112 §3.2.2: a proxy is sent absolute-form; the scheme is case-insensitive.
      if (target.length < 8 || target.slice(0, 7).toLowerCase() !== "http://") {
        if (target.slice(0, 8).toLowerCase() === "https://") {
          return answer(ex, 400, "bad_target", "https URLs go through CONNECT");
        }
        return answer(ex, 400, "bad_target", "a proxy request needs an absolute http:// URL");
      }
      let end = 7;
      while (end < target.length) {
        const c = target.charCodeAt(end);
        if (c === 47 /* / */ || c === 63 /* ? */) break;
        end++;
      }
      const authority = target.slice(7, end);
      if (authority.includes("@")) {
        // RFC 9110 §4.2.4: userinfo in http URIs is deprecated and a phishing/confusion vector.
        return answer(ex, 400, "bad_target", "credentials in the URL are not allowed");
      }
      const a = parseAuthority(authority, 80);
      if (a === undefined) return answer(ex, 400, "bad_target", "invalid host or port");
      const pathAndQuery = target.slice(end);
      if (!PATH_AND_QUERY.test(pathAndQuery)) {
        return answer(ex, 400, "bad_target", "invalid character in the request-target");
      }
      const q = pathAndQuery.indexOf("?");
      ex.host = a.host;
      ex.hostFamily = a.family;
      ex.port = a.port;
      ex.path = q < 0 ? pathAndQuery || "/" : pathAndQuery.slice(0, q) || "/";
      ex.query = q < 0 ? "" : pathAndQuery.slice(q + 1);
      return "next";
    },
  };
}

function parseConnect(ex: Exchange, target: string): Outcome {
  // RFC 9110 §9.3.6: CONNECT uses authority-form, and the port is required.
  const a = /:[0-9]{1,5}$/.test(target) ? parseAuthority(target, 0) : undefined;
  if (a === undefined) return answer(ex, 400, "bad_target", "CONNECT needs host:port");
  ex.host = a.host;
  ex.hostFamily = a.family;
  ex.port = a.port;
  if (!proxyConfigOf(ex.snapshot).connectPorts.has(a.port)) {
    return answer(ex, 403, "port_not_allowed", `CONNECT to port ${a.port} is not allowed`);
  }
  return "next";
}

/**
 * A request read from an inspected tunnel: origin-form (RFC 9112 §3.2.1), for the tunnel's own
 * host. A Host naming anything else is 421 (RFC 9110 §15.5.20): the tunnel's network policies
 * judged its authority, and a request may not reuse it for another host (domain fronting).
 */
function parseInspected(ex: Exchange, target: string): Outcome {
  const t = required(ex.inspection, "the inspected tunnel");
  if (!target.startsWith("/") || !PATH_AND_QUERY.test(target))
    return answer(ex, 400, "bad_target", "an inspected request needs an origin-form target");
  const hostHeader = ex.req.header("host");
  const h = hostHeader === undefined ? undefined : parseAuthority(hostHeader, t.port);
  if (h === undefined || h.host !== t.host || h.port !== t.port)
    return answer(ex, 421, "bad_target", `this connection serves ${t.host} only`);
  const q = target.indexOf("?");
  ex.host = t.host;
  ex.hostFamily = t.hostFamily;
  ex.port = t.port;
  ex.sni = t.sni;
  ex.path = q < 0 ? target : target.slice(0, q) || "/";
  ex.query = q < 0 ? "" : target.slice(q + 1);
  return "next";
}
