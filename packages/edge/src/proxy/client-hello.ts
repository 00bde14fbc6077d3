// Reads the server name (SNI) from a TLS ClientHello without terminating TLS, so network
// policies can match `net.sni.host` on CONNECT tunnels. Only parses; the bytes are forwarded
// unchanged to the origin afterwards.

import { MalformedBytes, u8, u16, u24 } from "../net/bytes.ts";

export type ClientHelloResult =
  /** Not enough bytes yet; read more (the ClientHello may span TLS records). */
  | { readonly status: "incomplete" }
  /** The client does not speak TLS first (e.g. plain HTTP inside CONNECT). */
  | { readonly status: "not_tls" }
  | { readonly status: "malformed"; readonly detail: string }
  /** A complete ClientHello; `sni` is undefined when it names no host. */
  | { readonly status: "ok"; readonly sni: string | undefined };

const INCOMPLETE: ClientHelloResult = { status: "incomplete" };
const NOT_TLS: ClientHelloResult = { status: "not_tls" };

// RFC 8446 §5.1: a record carries at most 2^14 bytes of plaintext; handshakes may be split
// across records. A ClientHello (even with post-quantum key shares) fits in a few records;
// 64 KiB bounds the memory a client can make us hold before the tunnel opens.
export const MAX_CLIENT_HELLO_BYTES = 64 * 1024;
const MAX_RECORD = 1 << 14;

const CONTENT_HANDSHAKE = 22; // RFC 8446 §5.1 ContentType.handshake
const HANDSHAKE_CLIENT_HELLO = 1; // RFC 8446 §4 HandshakeType.client_hello
const EXT_SERVER_NAME = 0; // RFC 6066 §3
const NAME_TYPE_HOST = 0;

function malformed(detail: string): ClientHelloResult {
  return { status: "malformed", detail };
}

/** Parse the first flight of a TLS client. Call again with more bytes on "incomplete". */
export function parseClientHello(buf: Uint8Array): ClientHelloResult {
  // Every read below follows a length check; a read past the end would be a gap in those
  // checks, and is still answered as a malformed ClientHello, never thrown at the tunnel.
  try {
    return parseFlight(buf);
  } catch (e) {
    if (e instanceof MalformedBytes) return malformed(e.message);
    throw e;
  }
}

function parseFlight(buf: Uint8Array): ClientHelloResult {
  if (buf.length === 0) return INCOMPLETE;
  if (buf[0] !== CONTENT_HANDSHAKE) return NOT_TLS;
  // Reassemble the handshake message from consecutive handshake records (RFC 8446 §5.1:
  // handshake messages may be fragmented; other content types must not interleave).
  let off = 0;
  let hs: Uint8Array | undefined;
  let hsLen = -1;
  let parts: Uint8Array[] | undefined;
  let have = 0;
  while (true) {
    if (off + 5 > buf.length) return INCOMPLETE;
    if (buf[off] !== CONTENT_HANDSHAKE)
      return malformed("non-handshake record before ClientHello end");
    if (buf[off + 1] !== 3) return off === 0 ? NOT_TLS : malformed("bad record version");
    const len = u16(buf, off + 3);
    if (len === 0 || len > MAX_RECORD) return malformed("bad record length");
    if (off + 5 + len > buf.length) return INCOMPLETE;
    const frag = buf.subarray(off + 5, off + 5 + len);
    off += 5 + len;
    if (hsLen < 0 && have === 0 && frag.length >= 4) {
      if (frag[0] !== HANDSHAKE_CLIENT_HELLO)
        return malformed("first handshake is not ClientHello");
      hsLen = u24(frag, 1);
      if (hsLen + 4 > MAX_CLIENT_HELLO_BYTES) return malformed("ClientHello too large");
    }
    if (parts === undefined && hsLen >= 0 && frag.length >= hsLen + 4) {
      hs = frag.subarray(4, 4 + hsLen); // common case: one record, no copy
      break;
    }
    parts ??= [];
    parts.push(frag);
    have += frag.length;
    if (hsLen < 0 && have >= 4) {
      const head = concat(parts, 4);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO)
        return malformed("first handshake is not ClientHello");
      hsLen = u24(head, 1);
      if (hsLen + 4 > MAX_CLIENT_HELLO_BYTES) return malformed("ClientHello too large");
    }
    if (hsLen >= 0 && have >= hsLen + 4) {
      hs = concat(parts, hsLen + 4).subarray(4);
      break;
    }
    if (off >= MAX_CLIENT_HELLO_BYTES) return malformed("ClientHello too large");
  }
  return parseBody(hs);
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    const take = Math.min(p.length, n - o);
    out.set(p.subarray(0, take), o);
    o += take;
    if (o === n) break;
  }
  return out;
}

/** RFC 8446 §4.1.2 ClientHello body (TLS 1.0–1.2 share the layout up to extensions). */
function parseBody(b: Uint8Array): ClientHelloResult {
  let p = 2 + 32; // legacy_version, random
  if (p + 1 > b.length) return malformed("truncated before session id");
  p += 1 + u8(b, p); // legacy_session_id
  if (p + 2 > b.length) return malformed("truncated before cipher suites");
  p += 2 + u16(b, p);
  if (p + 1 > b.length) return malformed("truncated before compression methods");
  p += 1 + u8(b, p);
  if (p === b.length) return { status: "ok", sni: undefined }; // no extensions (SSLv3-style)
  if (p + 2 > b.length) return malformed("truncated before extensions");
  const extEnd = p + 2 + u16(b, p);
  if (extEnd > b.length) return malformed("extensions overrun the ClientHello");
  p += 2;
  let sni: string | undefined;
  while (p < extEnd) {
    if (p + 4 > extEnd) return malformed("truncated extension header");
    const type = u16(b, p);
    const len = u16(b, p + 2);
    p += 4;
    if (p + len > extEnd) return malformed("extension overruns the list");
    if (type === EXT_SERVER_NAME) {
      // RFC 8446 §4.2: an extension type appears at most once.
      if (sni !== undefined) return malformed("duplicate server_name");
      const r = parseServerName(b, p, p + len);
      if (typeof r !== "string") return r;
      sni = r;
    }
    p += len;
  }
  return { status: "ok", sni };
}

/** RFC 6066 §3 ServerNameList; returns the host_name, lowercased. */
function parseServerName(b: Uint8Array, p: number, end: number): string | ClientHelloResult {
  if (p + 2 > end) return malformed("truncated server_name list");
  const listEnd = p + 2 + u16(b, p);
  if (listEnd > end) return malformed("server_name list overruns");
  p += 2;
  while (p < listEnd) {
    if (p + 3 > listEnd) return malformed("truncated server name entry");
    const kind = u8(b, p);
    const len = u16(b, p + 1);
    p += 3;
    if (p + len > listEnd) return malformed("server name overruns");
    if (kind === NAME_TYPE_HOST) {
      // "HostName" is ASCII letters, digits, hyphen and dots, no trailing dot (RFC 6066 §3).
      if (len === 0 || len > 255) return malformed("bad host_name length");
      let s = "";
      for (let i = p; i < p + len; i++) {
        let c = u8(b, i);
        if (c >= 0x41 && c <= 0x5a) c += 0x20;
        const ok =
          (c >= 0x61 && c <= 0x7a) ||
          (c >= 0x30 && c <= 0x39) ||
          c === 0x2d ||
          c === 0x2e ||
          c === 0x5f;
        if (!ok) return malformed("host_name has a byte outside LDH");
        s += String.fromCharCode(c);
      }
      return s;
    }
    p += len;
  }
  return malformed("server_name has no host_name");
}
