// The line formats domain lists arrive in, read one line at a time into names or rules. Control
// uses it to validate and store items (in the canonical text `ruleText` writes); the edge uses it
// for every line its byte-level fast path does not take (anything but a plain name).
//
//   plain    `ads.example`                 a name and its subdomains (`*.x` = subdomains only)
//   hosts    `0.0.0.0 a.example b.example  # comment`
//   adblock  AdGuard Home's DNS subset: `||x^`, `|x^`, `x`, wildcards `||ad*.x^` `||*.x^`,
//            `/regex/`, `@@` exceptions, modifiers $important $badfilter $dnstype $client
//            $denyallow $dnsrewrite (simple forms); modifiers that mean nothing for DNS
//            ($third-party, $script, …) and URL paths make the rule unsupported (skipped)
//   dnsmasq  `address=/x/0.0.0.0`, `address=/x/`, `server=/x/`, `local=/x/`
//   regex    Pi-hole's regex lists: one regular expression a line (`(^|\.)ads\.`)
//   auto     decided per line from its shape
//
// Browser-safe (no Node imports).

import { HOSTS_SELF_NAMES } from "./schemes.ts";

export const DOMAIN_LIST_FORMATS = [
  "auto",
  "hosts",
  "plain",
  "adblock",
  "dnsmasq",
  "regex",
] as const;
export type DomainListFormat = (typeof DOMAIN_LIST_FORMATS)[number];

/** What a rule's pattern matches, applied to a whole query name (lowercase, no trailing dot). */
export type DomainPattern =
  /** The name and its subdomains (`||x^`, a plain name, a hosts entry). */
  | { readonly kind: "suffix"; readonly name: string }
  /** Exactly this name (`|x^`). */
  | { readonly kind: "exact"; readonly name: string }
  /**
   * `*` matches any run of characters (dots included). `domain`: matches the name or any of its
   * parents (`||`); `start`: the whole name (`|`); `none`: anywhere in the name unless `end`.
   * `end`: the match must reach the end of the name (`^` or an anchor).
   */
  | {
      readonly kind: "wildcard";
      readonly glob: string;
      readonly anchor: "domain" | "start" | "none";
      readonly end: boolean;
    }
  /** A regular expression searched in the name (Rust `regex` syntax, linear time). */
  | { readonly kind: "regex"; readonly source: string };

export interface TypeFilter {
  readonly include: readonly string[];
  readonly exclude: readonly string[];
}

/** `$dnsrewrite`, simple forms only: an rcode, or an rcode with one A/AAAA/CNAME record. */
export type DnsRewrite =
  | { readonly rcode: DnsRewriteRcode; readonly type?: undefined; readonly value?: undefined }
  | {
      readonly rcode: DnsRewriteRcode;
      readonly type: "A" | "AAAA" | "CNAME";
      readonly value: string;
    };

type DnsRewriteRcode = "NOERROR" | "NXDOMAIN" | "REFUSED" | "SERVFAIL";

export interface DomainRule {
  readonly pattern: DomainPattern;
  readonly exception: boolean;
  readonly important: boolean;
  readonly badfilter: boolean;
  /** `$dnstype`: query types (upper case names) the rule is limited to / never applies to. */
  readonly dnstype?: TypeFilter;
  /** `$client`: addresses or CIDRs the rule is limited to / never applies to. */
  readonly client?: TypeFilter;
  /** `$denyallow`: names (and their subdomains) the rule never applies to. */
  readonly denyallow?: readonly string[];
  readonly rewrite?: DnsRewrite;
}

export type DomainLine =
  /** Plain names (suffix entries), the common case: hosts lines give several. */
  | { readonly kind: "names"; readonly names: readonly string[] }
  | { readonly kind: "rule"; readonly rule: DomainRule }
  /** Blank, comment, header or hosts boilerplate. */
  | { readonly kind: "skip" }
  /** Well-formed, but nothing a DNS filter can apply (URL paths, browser-only modifiers). */
  | { readonly kind: "unsupported"; readonly reason: string }
  | { readonly kind: "invalid"; readonly reason: string };

const SKIP: DomainLine = { kind: "skip" };
const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$|^[a-z0-9_]$/;
/** Letters a wildcard pattern may hold besides `*`. */
const GLOB_CHARS = /^[a-z0-9_.*-]+$/;
/** Longest regular expression accepted from a list. */
const MAX_LIST_REGEX = 1024;
const RR_TYPES = new Set([
  "A",
  "AAAA",
  "ANY",
  "CAA",
  "CNAME",
  "DNSKEY",
  "DS",
  "HINFO",
  "HTTPS",
  "MX",
  "NAPTR",
  "NS",
  "NULL",
  "PTR",
  "SOA",
  "SRV",
  "SSHFP",
  "SVCB",
  "TLSA",
  "TXT",
]);
/** Modifiers of browser filter lists that say nothing a DNS resolver can act on. */
const BROWSER_MODIFIERS = new Set([
  "third-party",
  "3p",
  "first-party",
  "1p",
  "script",
  "image",
  "stylesheet",
  "css",
  "xmlhttprequest",
  "xhr",
  "subdocument",
  "frame",
  "object",
  "media",
  "font",
  "websocket",
  "ping",
  "popup",
  "document",
  "doc",
  "other",
  "domain",
  "from",
  "to",
  "match-case",
  "redirect",
  "redirect-rule",
  "removeparam",
  "csp",
  "header",
  "elemhide",
  "generichide",
  "specifichide",
  "genericblock",
  "content",
  "jsinject",
  "urlblock",
  "extension",
  "stealth",
  "cookie",
  "replace",
  "app",
  "network",
  "method",
  "all",
  "inline-script",
  "inline-font",
  "empty",
  "mp4",
  "rewrite",
  "permissions",
  "hls",
  "jsonprune",
  "referrerpolicy",
  "urltransform",
  "strict-first-party",
  "strict-third-party",
  "ctag",
]);

/** Lowercase, drop one trailing dot, IDN-free check (labels of [a-z0-9_-], ≤ 63, name ≤ 253). */
function normalizeListName(raw: string): string | undefined {
  let s = raw.toLowerCase();
  if (s.endsWith(".")) s = s.slice(0, -1);
  if (s.length === 0 || s.length > 253) return undefined;
  for (const label of s.split(".")) if (!LABEL.test(label)) return undefined;
  return s;
}

function isAddress(s: string): boolean {
  if (s.includes(":")) return /^[0-9a-f:.]+$/i.test(s) && s.split(":").length <= 9;
  const p = s.split(".");
  return p.length === 4 && p.every((x) => /^\d{1,3}$/.test(x) && Number(x) <= 255);
}

function isCidr(s: string): boolean {
  const slash = s.indexOf("/");
  if (slash < 0) return isAddress(s);
  const addr = s.slice(0, slash);
  const len = s.slice(slash + 1);
  if (!isAddress(addr) || !/^\d{1,3}$/.test(len)) return false;
  return Number(len) <= (addr.includes(":") ? 128 : 32);
}

/** Strip a `#` comment that follows whitespace, and surrounding whitespace. */
function stripComment(line: string): string {
  const hash = line.search(/\s#/);
  return (hash >= 0 ? line.slice(0, hash) : line).trim();
}

/** Parse one line of a domain list. */
export function parseDomainLine(rawLine: string, format: DomainListFormat = "auto"): DomainLine {
  const line = rawLine.trim();
  if (line === "" || line.startsWith("#") || line.startsWith("!")) return SKIP;
  if (line.startsWith("[") && line.endsWith("]")) return SKIP;
  // Cosmetic (element hiding, scriptlet) rules of browser lists: `site##.ad`, `#@#`, `#$#`, …
  if (format !== "regex" && /^[^\s#]+#[@?$%]{0,2}#/.test(line))
    return { kind: "unsupported", reason: "a cosmetic rule means nothing to a DNS filter" };
  let f = format;
  if (f === "auto") f = detectFormat(line);
  switch (f) {
    case "hosts":
      return parseHosts(stripComment(line));
    case "dnsmasq":
      return parseDnsmasq(stripComment(line));
    case "regex":
      return regexLine(line, line.startsWith("/") && line.length > 2 && line.endsWith("/"));
    case "adblock":
      return parseAdblock(line);
    default:
      return parsePlain(stripComment(line));
  }
}

function detectFormat(line: string): DomainListFormat {
  const c = line.charAt(0);
  if (c === "|" || c === "@" || c === "/" || c === "*" || c === "." || line.startsWith("://"))
    return "adblock";
  if (/^(address|server|local)=\//.test(line)) return "dnsmasq";
  const [first = ""] = line.split(/\s/, 1);
  if (first.length < line.length && isAddress(first)) return "hosts";
  // What neither a host name nor an adblock rule holds, but regular expressions do: Pi-hole
  // regex list lines (`(^|\.)ads\.example$`, `^tracker[0-9]+\.`).
  if (c === "^" || /[()[\]\\+?{}]/.test(first)) return "regex";
  if (line.includes("$") || line.endsWith("^") || line.includes("*")) return "adblock";
  return "plain";
}

function parsePlain(line: string): DomainLine {
  if (/\s/.test(line)) return { kind: "invalid", reason: "expected one name a line" };
  if (line.startsWith("*.")) {
    const name = normalizeListName(line.slice(2));
    if (name === undefined)
      return { kind: "invalid", reason: `not a valid domain name: ${clip(line)}` };
    return ruleOf({ kind: "wildcard", glob: `*.${name}`, anchor: "domain", end: true });
  }
  const name = normalizeListName(line);
  if (name === undefined)
    return { kind: "invalid", reason: `not a valid domain name: ${clip(line)}` };
  return { kind: "names", names: [name] };
}

function parseHosts(line: string): DomainLine {
  const [address, ...rest] = line.split(/\s+/);
  if (address === undefined || rest.length === 0 || !isAddress(address))
    return { kind: "invalid", reason: "expected `ADDRESS NAME...`" };
  const names: string[] = [];
  for (const raw of rest) {
    if (HOSTS_SELF_NAMES.has(raw.toLowerCase())) continue;
    const n = normalizeListName(raw);
    if (n === undefined)
      return { kind: "invalid", reason: `not a valid domain name: ${clip(raw)}` };
    names.push(n);
  }
  return names.length > 0 ? { kind: "names", names } : SKIP;
}

function parseDnsmasq(line: string): DomainLine {
  const m = /^(address|server|local)=\/([^/]+(?:\/[^/]+)*)\/(.*)$/.exec(line);
  if (!m)
    return {
      kind: "invalid",
      reason: "expected `address=/name/…`, `server=/name/` or `local=/name/`",
    };
  // Every group takes part in a match: the defaults never apply.
  const [, directive = "", domains = "", rawTarget = ""] = m;
  const target = rawTarget.trim();
  // `server=/x/192.0.2.1` forwards x elsewhere; it blocks nothing.
  if (directive === "server" && target !== "" && target !== "#")
    return { kind: "unsupported", reason: "a dnsmasq forwarding line blocks nothing" };
  if (directive === "address" && target !== "" && target !== "#" && !isAddress(target))
    return { kind: "invalid", reason: `not an address: ${clip(target)}` };
  const names: string[] = [];
  for (const raw of domains.split("/")) {
    const n = normalizeListName(raw.startsWith(".") ? raw.slice(1) : raw);
    if (n === undefined)
      return { kind: "invalid", reason: `not a valid domain name: ${clip(raw)}` };
    names.push(n);
  }
  return { kind: "names", names };
}

function regexLine(body: string, slashed: boolean, rule?: Partial<DomainRule>): DomainLine {
  const source = slashed ? body.slice(1, -1) : body;
  if (source.length === 0) return { kind: "invalid", reason: "empty regular expression" };
  if (source.length > MAX_LIST_REGEX)
    return {
      kind: "invalid",
      reason: `regular expression longer than ${MAX_LIST_REGEX} characters`,
    };
  return ruleOf({ kind: "regex", source }, rule);
}

function ruleOf(pattern: DomainPattern, rest?: Partial<DomainRule>): DomainLine {
  return {
    kind: "rule",
    rule: { exception: false, important: false, badfilter: false, ...rest, pattern },
  };
}

function parseAdblock(line: string): DomainLine {
  let body = line;
  const exception = body.startsWith("@@");
  if (exception) body = body.slice(2);
  // Modifiers: after the last `$` that is not inside a /regex/.
  let mods = "";
  const regex = body.startsWith("/");
  const dollar = regex ? body.indexOf("$", body.lastIndexOf("/") + 1) : body.lastIndexOf("$");
  if (dollar >= 0) {
    mods = body.slice(dollar + 1);
    body = body.slice(0, dollar);
  }
  const opts: {
    exception: boolean;
    important: boolean;
    badfilter: boolean;
    dnstype?: TypeFilter;
    client?: TypeFilter;
    denyallow?: string[];
    rewrite?: DnsRewrite;
  } = { exception, important: false, badfilter: false };
  if (mods !== "") {
    for (const raw of splitModifiers(mods)) {
      const eq = raw.indexOf("=");
      const key = (eq < 0 ? raw : raw.slice(0, eq)).trim().toLowerCase();
      const value = eq < 0 ? "" : raw.slice(eq + 1).trim();
      const bare = key.startsWith("~") ? key.slice(1) : key;
      switch (key) {
        case "important":
          opts.important = true;
          break;
        case "badfilter":
          opts.badfilter = true;
          break;
        case "dnstype": {
          const t = typeFilter(value, (v) =>
            RR_TYPES.has(v.toUpperCase()) ? v.toUpperCase() : undefined,
          );
          if (typeof t === "string") return { kind: "invalid", reason: `$dnstype: ${t}` };
          opts.dnstype = t;
          break;
        }
        case "client": {
          const t = typeFilter(value, (v) => {
            const s = v.replace(/^['"]|['"]$/g, "").toLowerCase();
            return isCidr(s) ? s : undefined;
          });
          if (typeof t === "string")
            return { kind: "unsupported", reason: `$client: only addresses and CIDRs (${t})` };
          opts.client = t;
          break;
        }
        case "denyallow": {
          const names: string[] = [];
          for (const v of value.split("|")) {
            const n = normalizeListName(v.trim());
            if (n === undefined)
              return { kind: "invalid", reason: `$denyallow: not a domain: ${clip(v)}` };
            names.push(n);
          }
          opts.denyallow = names;
          break;
        }
        case "dnsrewrite": {
          const r = parseRewrite(value);
          if (typeof r === "string") return { kind: "unsupported", reason: `$dnsrewrite: ${r}` };
          opts.rewrite = r;
          break;
        }
        default:
          if (BROWSER_MODIFIERS.has(bare))
            return { kind: "unsupported", reason: `$${bare} means nothing to a DNS filter` };
          return { kind: "invalid", reason: `unknown modifier $${clip(bare)}` };
      }
    }
  }
  if (body.startsWith("/") && body.length > 2 && body.endsWith("/"))
    return regexLine(body, true, opts);
  const pattern = adblockPattern(body);
  if (typeof pattern === "string") {
    return pattern.startsWith("unsupported:")
      ? { kind: "unsupported", reason: pattern.slice(12).trim() }
      : { kind: "invalid", reason: pattern };
  }
  // A plain `||name^` with nothing else is the common case: a name of the hash set.
  if (
    pattern.kind === "suffix" &&
    !opts.exception &&
    !opts.important &&
    !opts.badfilter &&
    mods === ""
  )
    return { kind: "names", names: [pattern.name] };
  return ruleOf(pattern, opts);
}

function splitModifiers(mods: string): string[] {
  // `$dnsrewrite=NOERROR;A;1.2.3.4` and `$client='a, b'` may hold commas only inside quotes.
  const out: string[] = [];
  let cur = "";
  let quote = "";
  for (const c of mods) {
    if (quote) {
      if (c === quote) quote = "";
      cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      cur += c;
    } else if (c === ",") {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out.filter((s) => s.trim() !== "");
}

function typeFilter(value: string, norm: (v: string) => string | undefined): TypeFilter | string {
  const include: string[] = [];
  const exclude: string[] = [];
  if (value === "") return "no value";
  for (const raw of value.split("|")) {
    const v = raw.trim();
    const neg = v.startsWith("~");
    const n = norm(neg ? v.slice(1) : v);
    if (n === undefined) return `not understood: ${clip(v)}`;
    (neg ? exclude : include).push(n);
  }
  return { include, exclude };
}

function parseRewrite(value: string): DnsRewrite | string {
  const v = value.trim();
  if (v === "") return "no value";
  const rcodes = ["NOERROR", "NXDOMAIN", "REFUSED", "SERVFAIL"] as const;
  const up = v.toUpperCase();
  if ((rcodes as readonly string[]).includes(up)) return { rcode: up as DnsRewrite["rcode"] };
  if (!v.includes(";")) {
    if (isAddress(v))
      return { rcode: "NOERROR", type: v.includes(":") ? "AAAA" : "A", value: v.toLowerCase() };
    const n = normalizeListName(v);
    if (n !== undefined) return { rcode: "NOERROR", type: "CNAME", value: n };
    return `not an address or a name: ${clip(v)}`;
  }
  const [rc, type, data, ...more] = v.split(";");
  if (more.length > 0 || rc === undefined || type === undefined || data === undefined)
    return "expected RCODE;TYPE;VALUE";
  const rcode = rc.trim().toUpperCase();
  if (!(rcodes as readonly string[]).includes(rcode)) return `rcode ${clip(rc)}`;
  const t = type.trim().toUpperCase();
  const d = data.trim();
  if (
    (t === "A" && isAddress(d) && !d.includes(":")) ||
    (t === "AAAA" && d.includes(":") && isAddress(d))
  )
    return { rcode: rcode as DnsRewrite["rcode"], type: t, value: d.toLowerCase() };
  if (t === "CNAME") {
    const n = normalizeListName(d);
    if (n !== undefined) return { rcode: rcode as DnsRewrite["rcode"], type: "CNAME", value: n };
  }
  return `only A, AAAA and CNAME records (${clip(v)})`;
}

function adblockPattern(body: string): DomainPattern | string {
  let p = body;
  let anchor: "domain" | "start" | "none" = "none";
  if (p.startsWith("||")) {
    anchor = "domain";
    p = p.slice(2);
  } else if (p.startsWith("|")) {
    anchor = "start";
    p = p.slice(1);
  } else if (p.startsWith("://")) {
    anchor = "start";
    p = p.slice(3);
  }
  let end = false;
  if (p.endsWith("|")) p = p.slice(0, -1);
  if (p.endsWith("^")) {
    end = true;
    p = p.slice(0, -1);
  }
  if (p.endsWith("|")) {
    end = true;
    p = p.slice(0, -1);
  }
  if (p.includes("/")) return "unsupported: a URL path means nothing to a DNS filter";
  if (p.includes("^") || p.includes("|"))
    return "unsupported: a separator inside the pattern means nothing to a DNS filter";
  p = p.toLowerCase();
  if (p === "" || p === "*") {
    // `*$denyallow=…`-style rules: everything.
    return { kind: "wildcard", glob: "*", anchor: "none", end: false };
  }
  if (p.includes("*")) {
    if (!GLOB_CHARS.test(p)) return `not a domain pattern: ${clip(body)}`;
    if (p.length > 253) return "pattern longer than 253 characters";
    return { kind: "wildcard", glob: p.replace(/\*+/g, "*"), anchor, end };
  }
  // `.example.org`: only the subdomains.
  if (p.startsWith(".") && anchor === "none") {
    const n = normalizeListName(p.slice(1));
    if (n === undefined) return `not a valid domain name: ${clip(body)}`;
    return { kind: "wildcard", glob: `*.${n}`, anchor: "domain", end: true };
  }
  const name = normalizeListName(p);
  if (name === undefined) return `not a valid domain name: ${clip(body)}`;
  if (anchor === "domain") return { kind: "suffix", name };
  if (anchor === "start" && end) return { kind: "exact", name };
  // AdGuard Home reads a bare `example.org` (adblock form, no anchors) as that name only; an
  // unanchored pattern with something after it is a substring match.
  if (anchor === "none" && !end && !body.includes("^")) return { kind: "exact", name };
  return { kind: "wildcard", glob: name, anchor, end };
}

function clip(s: string): string {
  return JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}…` : s);
}

/** The canonical text of a rule: what control stores and the edge reads back (auto format). */
export function ruleText(r: DomainRule): string {
  let s = r.exception ? "@@" : "";
  const p = r.pattern;
  switch (p.kind) {
    case "suffix":
      s += `||${p.name}^`;
      break;
    case "exact":
      s += `|${p.name}^`;
      break;
    case "wildcard":
      s += `${p.anchor === "domain" ? "||" : p.anchor === "start" ? "|" : ""}${p.glob}${p.end ? "^" : ""}`;
      break;
    case "regex":
      s += `/${p.source}/`;
      break;
  }
  const mods: string[] = [];
  if (r.important) mods.push("important");
  if (r.badfilter) mods.push("badfilter");
  if (r.dnstype) mods.push(`dnstype=${filterText(r.dnstype)}`);
  if (r.client) mods.push(`client=${filterText(r.client)}`);
  if (r.denyallow) mods.push(`denyallow=${r.denyallow.join("|")}`);
  if (r.rewrite) {
    const w = r.rewrite;
    mods.push(`dnsrewrite=${w.type ? `${w.rcode};${w.type};${w.value}` : w.rcode}`);
  }
  return mods.length > 0 ? `${s}$${mods.join(",")}` : s;
}

function filterText(t: TypeFilter): string {
  return [...t.include, ...t.exclude.map((x) => `~${x}`)].join("|");
}

/** The rule `$badfilter` rule `r` disables: its text without the badfilter modifier. */
export function badfilterTarget(r: DomainRule): string {
  return ruleText({ ...r, badfilter: false });
}
