// RFC 1035 §5 master files ("zone files") for local zones: the record types local DNS needs (A,
// AAAA, CNAME, MX, TXT, SRV, PTR, CAA, NS, SOA), `$ORIGIN` and `$TTL` (RFC 2308 §4), `@`,
// relative names, an empty owner meaning the previous one, parentheses across lines, `;`
// comments, quoted strings with `\"` and `\DDD` escapes, and `*` wildcard owners. Every error
// names the line. Browser-safe (no Node imports); control validates with it, the edge serves
// what it returns.

const LOCAL_RECORD_TYPES = [
  "A",
  "AAAA",
  "CNAME",
  "MX",
  "TXT",
  "SRV",
  "PTR",
  "CAA",
  "NS",
  "SOA",
] as const;
type LocalRecordType = (typeof LOCAL_RECORD_TYPES)[number];

type ZoneRecordData =
  | string // A, AAAA (address), CNAME, NS, PTR (absolute name, no trailing dot)
  | { preference: number; exchange: string } // MX
  | { priority: number; weight: number; port: number; target: string } // SRV
  | { flags: number; tag: string; value: string } // CAA
  | string[] // TXT: character-strings (UTF-8 text)
  | {
      mname: string;
      rname: string;
      serial: number;
      refresh: number;
      retry: number;
      expire: number;
      minimum: number;
    }; // SOA

export interface ZoneRecord {
  /** Absolute owner name, lowercase, no trailing dot (`*.x` for a wildcard). */
  readonly name: string;
  readonly type: LocalRecordType;
  readonly ttl: number;
  readonly data: ZoneRecordData;
  /** 1-based line the record starts on. */
  readonly line: number;
}

export class ZoneFileError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = "ZoneFileError";
    this.line = line;
  }
}

/** Limits: a local zone is hand-made data, not a TLD. */
const MAX_ZONE_RECORDS = 100_000;
const MAX_TTL = 2_147_483_647;
const DEFAULT_TTL = 3600;

const LABEL = /^(\*|[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)$/;

/** An absolute name from a zone-file token, relative to `origin` unless it ends in a dot. */
function absName(tok: string, origin: string, line: number, owner = false): string {
  let s = tok.toLowerCase();
  if (s === "@") return origin;
  if (s.endsWith(".")) s = s.slice(0, -1);
  else s = s === "" ? origin : origin === "" ? s : `${s}.${origin}`;
  if (s.length > 253)
    throw new ZoneFileError(line, `name longer than 253 characters: ${clip(tok)}`);
  if (s === "") return s;
  const labels = s.split(".");
  labels.forEach((l, i) => {
    if (!LABEL.test(l) || (l === "*" && (!owner || i !== 0)))
      throw new ZoneFileError(line, `not a valid name: ${clip(tok)}`);
  });
  return s;
}

function clip(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

interface Token {
  text: string;
  quoted: boolean;
}

/** Split a logical record (after parentheses are joined) into tokens. */
function tokenize(src: string, line: number): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src.charAt(i);
    if (c === " " || c === "\t") {
      i++;
      continue;
    }
    if (c === '"') {
      let s = "";
      i++;
      for (;;) {
        if (i >= src.length) throw new ZoneFileError(line, "unterminated quoted string");
        const d = src.charAt(i);
        if (d === '"') {
          i++;
          break;
        }
        if (d === "\\") {
          const esc = readEscape(src, i, line);
          s += esc.text;
          i = esc.next;
          continue;
        }
        s += d;
        i++;
      }
      out.push({ text: s, quoted: true });
      continue;
    }
    let s = "";
    while (i < src.length && src[i] !== " " && src[i] !== "\t") {
      if (src[i] === "\\") {
        const esc = readEscape(src, i, line);
        s += esc.text;
        i = esc.next;
      } else s += src[i++];
    }
    out.push({ text: s, quoted: false });
  }
  return out;
}

function readEscape(src: string, i: number, line: number): { text: string; next: number } {
  const d = src.slice(i + 1, i + 4);
  if (/^\d{3}$/.test(d)) {
    const n = Number(d);
    if (n > 255) throw new ZoneFileError(line, `bad escape \\${d}`);
    return { text: String.fromCharCode(n), next: i + 4 };
  }
  if (i + 1 >= src.length) throw new ZoneFileError(line, "escape at the end of the line");
  return { text: src.charAt(i + 1), next: i + 2 };
}

/** Join the file into logical records: comments stripped, parentheses spanning lines. */
function logicalLines(text: string): { src: string; line: number; ownerBlank: boolean }[] {
  const out: { src: string; line: number; ownerBlank: boolean }[] = [];
  const lines = text.split(/\r?\n/);
  let depth = 0;
  let cur = "";
  let start = 0;
  let ownerBlank = false;
  for (const [n, raw] of lines.entries()) {
    let inQuote = false;
    let piece = "";
    for (let i = 0; i < raw.length; i++) {
      const c = raw.charAt(i);
      if (c === "\\" && i + 1 < raw.length) {
        piece += c + raw[i + 1];
        i++;
        continue;
      }
      if (c === '"') inQuote = !inQuote;
      if (!inQuote && c === ";") break;
      if (!inQuote && c === "(") {
        depth++;
        piece += " ";
        continue;
      }
      if (!inQuote && c === ")") {
        if (depth === 0) throw new ZoneFileError(n + 1, "unbalanced )");
        depth--;
        piece += " ";
        continue;
      }
      piece += c;
    }
    if (inQuote) throw new ZoneFileError(n + 1, "unterminated quoted string");
    if (cur === "") {
      start = n + 1;
      ownerBlank = raw.length > 0 && (raw[0] === " " || raw[0] === "\t");
    }
    cur += ` ${piece}`;
    if (depth === 0) {
      if (cur.trim() !== "") out.push({ src: cur, line: start, ownerBlank });
      cur = "";
    }
  }
  if (depth !== 0) throw new ZoneFileError(start, "unbalanced (");
  return out;
}

function u(tok: Token | undefined, max: number, what: string, line: number): number {
  if (!tok || !/^\d+$/.test(tok.text) || Number(tok.text) > max)
    throw new ZoneFileError(
      line,
      `${what}: expected a number up to ${max}, got ${clip(tok?.text ?? "")}`,
    );
  return Number(tok.text);
}

/** TTLs as numbers or BIND units (1h30m, 2d, 1w). */
function ttlOf(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text) <= MAX_TTL ? Number(text) : undefined;
  const m = /^(\d+[smhdw])+$/i.exec(text);
  if (!m) return undefined;
  const mult: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  let t = 0;
  for (const part of text.toLowerCase().match(/\d+[smhdw]/g) ?? []) {
    const unit = mult[part.slice(-1)];
    if (unit === undefined) return undefined;
    t += Number(part.slice(0, -1)) * unit;
  }
  return t <= MAX_TTL ? t : undefined;
}

function isIpv4(s: string): boolean {
  const p = s.split(".");
  return p.length === 4 && p.every((x) => /^(0|[1-9]\d{0,2})$/.test(x) && Number(x) <= 255);
}

function isIpv6(s: string): boolean {
  if (!/^[0-9a-f:.]+$/i.test(s) || s.length > 45) return false;
  const dbl = s.split("::");
  if (dbl.length > 2) return false;
  const [head = "", tail] = dbl;
  const groups = (x: string) => (x === "" ? [] : x.split(":"));
  const parts = [...groups(head), ...(tail !== undefined ? groups(tail) : [])];
  let n = 0;
  for (const [i, g] of parts.entries()) {
    if (i === parts.length - 1 && g.includes(".")) {
      if (!isIpv4(g)) return false;
      n += 2;
    } else if (/^[0-9a-f]{1,4}$/i.test(g)) n++;
    else return false;
  }
  return dbl.length === 2 ? n < 8 : n === 8;
}

/**
 * Parse a zone file. `origin` is the zone's apex (the initial `$ORIGIN`); records outside it are
 * an error. Throws ZoneFileError naming the line.
 */
export function parseZoneFile(
  text: string,
  origin: string,
  defaultTtl = DEFAULT_TTL,
): ZoneRecord[] {
  const apex = absName(`${origin.replace(/\.$/, "")}.`, "", 0);
  let org = apex;
  let ttl = defaultTtl;
  let last = apex;
  const out: ZoneRecord[] = [];
  for (const { src, line, ownerBlank } of logicalLines(text)) {
    const toks = tokenize(src, line);
    if (toks.length === 0) continue;
    const [first] = toks;
    if (first === undefined) continue;
    if (!first.quoted && first.text.startsWith("$")) {
      const dir = first.text.toUpperCase();
      if (dir === "$ORIGIN") {
        if (!toks[1]) throw new ZoneFileError(line, "$ORIGIN needs a name");
        org = absName(
          toks[1].text.endsWith(".") ? toks[1].text : `${toks[1].text}.${org}.`,
          "",
          line,
        );
      } else if (dir === "$TTL") {
        const t = toks[1] ? ttlOf(toks[1].text) : undefined;
        if (t === undefined) throw new ZoneFileError(line, "$TTL needs a TTL");
        ttl = t;
      } else throw new ZoneFileError(line, `${dir} is not supported (only $ORIGIN and $TTL)`);
      continue;
    }
    let i = 0;
    let owner = last;
    if (!ownerBlank) {
      owner = absName(first.text, org, line, true);
      i = 1;
    }
    // [TTL] [class] type, or [class] [TTL] type.
    let recTtl: number | undefined;
    for (let k = 0; k < 2; k++) {
      const t = toks[i]?.text;
      if (t === undefined) break;
      if (recTtl === undefined && ttlOf(t) !== undefined) {
        recTtl = ttlOf(t);
        i++;
      } else if (t.toUpperCase() === "IN") i++;
      else if (/^(CH|HS|CS)$/i.test(t))
        throw new ZoneFileError(line, `class ${t} is not supported`);
    }
    const typeTok = toks[i++];
    if (!typeTok) throw new ZoneFileError(line, "record type missing");
    const type = typeTok.text.toUpperCase() as LocalRecordType;
    if (!(LOCAL_RECORD_TYPES as readonly string[]).includes(type))
      throw new ZoneFileError(line, `record type ${clip(typeTok.text)} is not supported`);
    if (owner !== apex && !owner.endsWith(`.${apex}`))
      throw new ZoneFileError(line, `${owner} is outside the zone ${apex}`);
    const rd = toks.slice(i);
    out.push({ name: owner, type, ttl: recTtl ?? ttl, data: rdata(type, rd, org, line), line });
    last = owner;
    if (out.length > MAX_ZONE_RECORDS)
      throw new ZoneFileError(line, `more than ${MAX_ZONE_RECORDS} records`);
  }
  return out;
}

function rdata(type: LocalRecordType, rd: Token[], origin: string, line: number): ZoneRecordData {
  const count = (n: number) => {
    if (rd.length !== n)
      throw new ZoneFileError(
        line,
        `${type} takes ${n} field${n > 1 ? "s" : ""}, got ${rd.length}`,
      );
  };
  /** Field `i` of the record data; count() has checked how many there are. */
  const field = (i: number): string => {
    const t = rd[i];
    if (t === undefined) throw new ZoneFileError(line, `${type} field ${i + 1} missing`);
    return t.text;
  };
  switch (type) {
    case "A":
      count(1);
      if (!isIpv4(field(0)))
        throw new ZoneFileError(line, `not an IPv4 address: ${clip(field(0))}`);
      return field(0);
    case "AAAA":
      count(1);
      if (!isIpv6(field(0)))
        throw new ZoneFileError(line, `not an IPv6 address: ${clip(field(0))}`);
      return field(0).toLowerCase();
    case "CNAME":
    case "NS":
    case "PTR":
      count(1);
      return absName(field(0), origin, line);
    case "MX":
      count(2);
      return {
        preference: u(rd[0], 65535, "MX preference", line),
        exchange: absName(field(1), origin, line),
      };
    case "SRV":
      count(4);
      return {
        priority: u(rd[0], 65535, "SRV priority", line),
        weight: u(rd[1], 65535, "SRV weight", line),
        port: u(rd[2], 65535, "SRV port", line),
        target: absName(field(3), origin, line),
      };
    case "CAA": {
      count(3);
      const tag = field(1);
      if (!/^[a-z0-9]{1,15}$/i.test(tag)) throw new ZoneFileError(line, `bad CAA tag ${clip(tag)}`);
      return {
        flags: u(rd[0], 255, "CAA flags", line),
        tag: tag.toLowerCase(),
        value: field(2),
      };
    }
    case "TXT": {
      if (rd.length === 0) throw new ZoneFileError(line, "TXT needs at least one string");
      for (const t of rd)
        if (new TextEncoder().encode(t.text).length > 255)
          throw new ZoneFileError(line, "a TXT string is longer than 255 octets (split it)");
      return rd.map((t) => t.text);
    }
    case "SOA": {
      count(7);
      return {
        mname: absName(field(0), origin, line),
        rname: absName(field(1), origin, line),
        serial: u(rd[2], 4294967295, "SOA serial", line),
        refresh: ttlOrThrow(field(3), line),
        retry: ttlOrThrow(field(4), line),
        expire: ttlOrThrow(field(5), line),
        minimum: ttlOrThrow(field(6), line),
      };
    }
  }
}

function ttlOrThrow(text: string, line: number): number {
  const v = ttlOf(text);
  if (v === undefined) throw new ZoneFileError(line, `not a time value: ${clip(text)}`);
  return v;
}
