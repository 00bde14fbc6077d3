// HTTP/1.1 message heads (RFC 9112 §2–§5), parsed strictly: the proxy's own parser for both
// directions, written for the request path (one pass over the bytes, one string per token, no
// regular expressions). Strict means: CRLF line endings only, no obs-fold, no whitespace before
// a colon, token characters in methods and field names, no control characters in values, at
// most one SP between the parts of the start line. Anything else is an error with a status the
// client can be given (400, 431, 505) — never a guess, because a proxy that reads a message
// differently from the next hop is how requests are smuggled.

/** RFC 9110 §5.6.2 tchar. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/** RFC 9110 §5.5 field-value octets: HTAB, SP, VCHAR, obs-text. */
const VALUE = new Uint8Array(256);
VALUE[9] = 1;
for (let c = 0x20; c <= 0x7e; c++) VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) VALUE[c] = 1;

/** request-target octets: visible ASCII (parse-target narrows it further). */
const TARGET = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET[c] = 1;

/** Whether the byte at `i` is in the class `table` marks; a byte past the end is in none. */
function inClass(table: Uint8Array, buf: Buffer, i: number): boolean {
  const c = buf[i];
  return c !== undefined && table[c] === 1;
}

/** The decimal digit at `i`, or -1 when it is not one (or past the end). */
function digit(buf: Buffer, i: number): number {
  const c = buf[i];
  return c !== undefined && c >= 0x30 && c <= 0x39 ? c - 0x30 : -1;
}

/**
 * Methods we relay: those of RFC 9110 and the registered extensions (WebDAV, PATCH, …) that
 * origins implement. Methods are case-sensitive; anything else is 501 (RFC 9110 §9.1), never
 * forwarded to an origin that might parse it differently.
 */
const METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
  "PROPFIND",
  "PROPPATCH",
  "MKCOL",
  "COPY",
  "MOVE",
  "LOCK",
  "UNLOCK",
  "SEARCH",
  "REPORT",
  "MKACTIVITY",
  "CHECKOUT",
  "MERGE",
  "MKCALENDAR",
  "BIND",
  "REBIND",
  "UNBIND",
  "ACL",
  "LINK",
  "UNLINK",
  "PURGE",
  "QUERY",
]);

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;

/** A head that cannot be accepted, with the status to answer it with. */
export class HeadError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function bad(message: string): HeadError {
  return new HeadError(400, "HEAD_INVALID", message);
}

export interface HeadLimits {
  /** Bytes of a whole head, start line to the empty line. */
  readonly maxHeadBytes: number;
  /** Field lines; one more is an error (431 for requests). */
  readonly maxHeaderCount: number;
}

/**
 * Where the head that starts at `buf[0]` ends: the offset just past its empty line, or -1 while
 * it is incomplete. `from` is where the previous call stopped (resume there). Throws on a bare
 * LF (a line ending a lenient next hop might split differently) and on a head over the limit.
 */
export function findHeadEnd(buf: Buffer, from: number, limits: HeadLimits): number {
  // A plain loop: a head is a few hundred bytes, and Buffer#indexOf is a native call per line.
  const n = buf.length;
  for (let i = from; i < n; i++) {
    if (buf[i] !== LF) continue;
    if (i === 0 || buf[i - 1] !== CR) throw bad("bare LF in the head");
    // An empty line (CRLF right after the previous LF) ends the head.
    if (i >= 3 && buf[i - 2] === LF) return i + 1;
  }
  if (buf.length > limits.maxHeadBytes) {
    throw new HeadError(431, "HEAD_TOO_LARGE", "request header fields too large");
  }
  return -1;
}

/** Where a scan for the head end may resume after `buf` grows: the last complete line's end. */
export function resumeAt(buf: Buffer): number {
  // Step back far enough that a CRLF CRLF split across reads is still seen whole.
  return buf.length < 3 ? 0 : buf.length - 3;
}

/** What the framing fields of a message said, gathered while its fields are parsed. */
export interface Framing {
  /** -1: no Content-Length; -2: present but invalid, or more than one. */
  contentLength: number;
  /** Transfer-Encoding field lines seen, and the last value. */
  teCount: number;
  te: string;
  /** Connection tokens that matter to framing and reuse. */
  connClose: boolean;
  connKeepAlive: boolean;
  connUpgrade: boolean;
  /** Host field lines (a request needs exactly one). */
  hostCount: number;
  /** The Expect value, lowercased ("" for none); of several, one other than 100-continue. */
  expect: string;
}

/** The start line and fields of a request, as received (names keep their case). */
export interface ParsedRequest extends Framing {
  method: string;
  target: string;
  versionMinor: number;
  /** Flat [name, value, name, value, …]. */
  rawHeaders: string[];
}

export interface ParsedResponse extends Framing {
  status: number;
  versionMinor: number;
  rawHeaders: string[];
}

/** No field seen yet: the parser fills these in (a class, so no spread of defaults per message). */
class Fields implements Framing {
  contentLength = -1;
  teCount = 0;
  te = "";
  connClose = false;
  connKeepAlive = false;
  connUpgrade = false;
  hostCount = 0;
  expect = "";
  rawHeaders: string[] = [];
}

class RequestHead extends Fields implements ParsedRequest {
  method: string;
  target: string;
  versionMinor: number;
  constructor(method: string, target: string, versionMinor: number) {
    super();
    this.method = method;
    this.target = target;
    this.versionMinor = versionMinor;
  }
}

class ResponseHead extends Fields implements ParsedResponse {
  status: number;
  versionMinor: number;
  constructor(status: number, versionMinor: number) {
    super();
    this.status = status;
    this.versionMinor = versionMinor;
  }
}

/** Parse the request head in `buf[0, end)` (end from findHeadEnd). */
export function parseRequestHead(buf: Buffer, end: number, limits: HeadLimits): ParsedRequest {
  // request-line = method SP request-target SP HTTP-version CRLF
  let i = 0;
  while (inClass(TCHAR, buf, i)) i++;
  if (i === 0 || buf[i] !== SP) throw bad("invalid method");
  // The whole head as one latin1 string (one native call): every token is a slice of it.
  const text = buf.toString("latin1", 0, end);
  const method = text.slice(0, i);
  if (!METHODS.has(method)) throw new HeadError(501, "HEAD_METHOD", "unrecognised method");
  const t0 = ++i;
  while (inClass(TARGET, buf, i)) i++;
  if (i === t0 || buf[i] !== SP) throw bad("invalid request-target");
  const target = text.slice(t0, i);
  i++;
  const minor = parseVersion(buf, i);
  if (minor < 0) throw bad("invalid HTTP version");
  i += 8;
  if (buf[i] !== CR) throw bad("invalid request line");
  if (minor > 9) {
    throw new HeadError(505, "HEAD_VERSION", "HTTP version not supported");
  }
  const out = new RequestHead(method, target, minor);
  parseFields(buf, text, i + 2, end, limits, out, out.rawHeaders, true);
  return out;
}

/** Parse the response head in `buf[0, end)`. Errors are the origin's fault (the caller: 502). */
export function parseResponseHead(buf: Buffer, end: number, limits: HeadLimits): ParsedResponse {
  // status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF
  const minor = parseVersion(buf, 0);
  if (minor < 0 || minor > 9 || buf[8] !== SP) throw bad("invalid status line");
  const d0 = digit(buf, 9);
  const d1 = digit(buf, 10);
  const d2 = digit(buf, 11);
  if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) throw bad("invalid status code");
  let i = 12;
  if (buf[i] === SP) {
    i++;
    while (inClass(VALUE, buf, i)) i++;
  }
  if (buf[i] !== CR) throw bad("invalid status line");
  const status = d0 * 100 + d1 * 10 + d2;
  const out = new ResponseHead(status, minor);
  parseFields(buf, buf.toString("latin1", 0, end), i + 2, end, limits, out, out.rawHeaders, false);
  return out;
}

/** "HTTP/1.x" at `i`: x, or -1. (HTTP/2 and later never arrive as HTTP/1 text.) */
function parseVersion(buf: Buffer, i: number): number {
  if (
    buf[i] !== 0x48 ||
    buf[i + 1] !== 0x54 ||
    buf[i + 2] !== 0x54 ||
    buf[i + 3] !== 0x50 ||
    buf[i + 4] !== 0x2f ||
    buf[i + 6] !== 0x2e
  ) {
    return -1;
  }
  const major = digit(buf, i + 5);
  const minor = digit(buf, i + 7);
  if (minor < 0 || minor > 9) return -1;
  // HTTP/2.0 and friends in an HTTP/1 start line: a version we do not speak (505).
  if (major === 1) return minor;
  if (major >= 2 && major <= 9) return 10;
  return -1;
}

/** field-line = field-name ":" OWS field-value OWS, CRLF-terminated, until the empty line. */
function parseFields(
  buf: Buffer,
  text: string,
  start: number,
  end: number,
  limits: HeadLimits,
  f: Framing,
  raw: string[],
  request: boolean,
): void {
  let i = start;
  const last = end - 2; // the empty line's CR
  let count = 0;
  while (i < last) {
    const n0 = i;
    while (inClass(TCHAR, buf, i)) i++;
    if (i === n0) {
      const c = buf[i];
      throw bad(c === SP || c === HTAB ? "obsolete line folding" : "invalid header name");
    }
    if (buf[i] !== 0x3a) throw bad("invalid header name");
    const nameEnd = i++;
    while (buf[i] === SP || buf[i] === HTAB) i++;
    const v0 = i;
    while (inClass(VALUE, buf, i)) i++;
    if (buf[i] !== CR || buf[i + 1] !== LF) throw bad("invalid character in a header value");
    let v1 = i;
    while (v1 > v0 && (buf[v1 - 1] === SP || buf[v1 - 1] === HTAB)) v1--;
    i += 2;
    if (++count > limits.maxHeaderCount) {
      throw new HeadError(431, "HEAD_TOO_MANY", "too many header fields");
    }
    const name = text.slice(n0, nameEnd);
    if (request && name.indexOf("_") >= 0) refuseLookAlike(name);
    const value = text.slice(v0, v1);
    raw.push(name, value);
    noteFraming(name, value, f);
  }
}

/**
 * Request fields whose meaning this hop acts on and whose name has a hyphen. An underscore in
 * place of the hyphen (`Transfer_Encoding`, `Content_Length`) is a different field to us, but
 * CGI-style origins and frameworks (PHP, Rack, WSGI) read both spellings as one variable: the
 * origin would see a second framing or a hop-by-hop field we never stripped. Such a request is
 * refused (400), as a message with two framings is; other names with underscores are forwarded
 * as received (applications use them, and they are no field the proxy interprets).
 */
const LOOK_ALIKES: ReadonlySet<string> = new Set([
  "content-length",
  "transfer-encoding",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "max-forwards",
]);

function refuseLookAlike(name: string): void {
  const hyphenated = name.toLowerCase().replaceAll("_", "-");
  if (LOOK_ALIKES.has(hyphenated)) {
    throw bad(`header field ${name} could be read as ${hyphenated} by the next hop`);
  }
}

const DIGITS = /^[0-9]{1,15}$/;

/**
 * `name` is the field `lower` (lowercase letters and hyphens, the same length), whatever the
 * case of its letters, without lowercasing (allocating) it: most names only share a length.
 */
function isField(name: string, lower: string): boolean {
  if (name === lower) return true;
  for (let i = 0; i < lower.length; i++) {
    const c = name.charCodeAt(i);
    const l = lower.charCodeAt(i);
    if (c !== l && (l < 0x61 || l > 0x7a || c !== l - 0x20)) return false;
  }
  return true;
}

/** Connection (or Proxy-Connection) options this hop acts on; the usual single ones at once. */
function noteConnection(value: string, f: Framing, upgrade: boolean): void {
  if (value.length === 10 && isField(value, "keep-alive")) {
    f.connKeepAlive = true;
    return;
  }
  if (value.length === 5 && isField(value, "close")) {
    f.connClose = true;
    return;
  }
  for (const t of value.split(",")) {
    const tok = t.trim().toLowerCase();
    if (tok === "close") f.connClose = true;
    else if (tok === "keep-alive") f.connKeepAlive = true;
    else if (upgrade && tok === "upgrade") f.connUpgrade = true;
  }
}

function noteFraming(name: string, value: string, f: Framing): void {
  switch (name.length) {
    case 4:
      if (isField(name, "host")) f.hostCount++;
      break;
    case 6:
      if (isField(name, "expect") && (f.expect === "" || f.expect === "100-continue")) {
        f.expect = value.toLowerCase();
      }
      break;
    case 14:
      if (isField(name, "content-length")) {
        // RFC 9110 §8.6: 1*DIGIT. Two of them (even equal) are two framings: refused.
        f.contentLength = f.contentLength === -1 && DIGITS.test(value) ? Number(value) : -2;
      }
      break;
    case 17:
      if (isField(name, "transfer-encoding")) {
        f.teCount++;
        f.te = value;
      }
      break;
    case 10:
      if (isField(name, "connection")) noteConnection(value, f, true);
      break;
    case 16:
      // What old HTTP/1.0 clients send their proxy instead of Connection (never standardised,
      // still common): honoured for persistence only, and stripped like Connection.
      if (isField(name, "proxy-connection")) noteConnection(value, f, false);
      break;
  }
}

/** The message body is `Transfer-Encoding: chunked`, and only that. */
export function isChunkedOnly(f: Framing): boolean {
  return f.teCount === 1 && f.te.toLowerCase() === "chunked";
}
