// The DER of a leaf certificate for one host name or IP address (RFC 5280 §4.1), written
// directly: a leaf is minted on the first inspected connection to a host, while the client
// waits, and a general ASN.1 builder spent ~1.5 ms (p99 ~7 ms) per leaf where this spends
// microseconds. Everything that depends only on the issuing intermediate (its subject, key
// identifier, the signature algorithm) is encoded once per intermediate (LeafTemplate); per leaf
// only the serial, validity, names and public key are written. Certificates are checked by
// node:crypto's X509Certificate and by OpenSSL's chain verification in the tests.

import { X509Certificate } from "node:crypto";
import { parseIpv4, parseIpv6 } from "@gatehouse/rules";
import { u8 } from "../net/bytes.ts";

/** Tag, length (definite form), value. */
function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  let n = 0;
  for (const p of parts) n += p.length;
  const head =
    n < 0x80
      ? [tag, n]
      : n < 0x100
        ? [tag, 0x81, n]
        : n < 0x10000
          ? [tag, 0x82, n >> 8, n & 0xff]
          : [tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Uint8Array.from(head), ...parts], head.length + n);
}

const SEQ = 0x30;
const SET = 0x31;
const OID = 0x06;
const OCTETS = 0x04;
const BITS = 0x03;
const INT = 0x02;
const BOOL_TRUE = Uint8Array.of(0x01, 0x01, 0xff);
const seq = (...p: Uint8Array[]) => tlv(SEQ, ...p);

/** An OBJECT IDENTIFIER from dotted text. */
function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split(".").map(Number);
  if (first === undefined || second === undefined)
    throw new Error(`OID "${dotted}" has under two arcs`);
  const out: number[] = [first * 40 + second];
  for (const a of rest) {
    const b: number[] = [a & 0x7f];
    for (let v = Math.floor(a / 128); v > 0; v = Math.floor(v / 128)) b.unshift((v & 0x7f) | 0x80);
    out.push(...b);
  }
  return tlv(OID, Uint8Array.from(out));
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } */
function extension(id: string, critical: boolean, value: Uint8Array): Buffer {
  return critical ? seq(oid(id), BOOL_TRUE, tlv(OCTETS, value)) : seq(oid(id), tlv(OCTETS, value));
}

const V3 = tlv(0xa0, tlv(INT, Uint8Array.of(2)));
const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));
const CN = oid("2.5.4.3");
// cA FALSE is the default: an empty BasicConstraints says "not a CA" (RFC 5280 §4.2.1.9).
const BASIC_CONSTRAINTS = extension("2.5.29.19", true, seq());
const KEY_USAGE = extension("2.5.29.15", true, Uint8Array.of(BITS, 0x02, 0x07, 0x80)); // digitalSignature
const EXT_KEY_USAGE = extension("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"))); // serverAuth
const SAN = "2.5.29.17";

/** What one intermediate contributes to every leaf it signs. */
export interface LeafTemplate {
  /** DER of the issuer's subject Name. */
  readonly issuer: Buffer;
  /** AuthorityKeyIdentifier extension (absent when the issuer has no SKI). */
  readonly aki: Buffer | undefined;
  /** The issuer's notAfter: no leaf outlives its issuer. */
  readonly issuerNotAfter: number;
}

/** Reads an intermediate's subject Name and key identifier out of its DER (outer layers only). */
export function leafTemplate(issuerPem: string): LeafTemplate {
  const cert = new X509Certificate(issuerPem);
  const der = cert.raw;
  // Certificate → tbsCertificate → [version, serial, sigAlg, issuer, validity, subject, …]
  const tbs = children(child(child(der, 0, "Certificate").value, 0, "tbsCertificate").value);
  const subject = child(tbs, tbs[0]?.tag === 0xa0 ? 5 : 4, "subject");
  let aki: Buffer | undefined;
  const extsWrapper = tbs.find((c) => c.tag === 0xa3);
  if (extsWrapper) {
    for (const ext of children(child(extsWrapper.value, 0, "extensions").value)) {
      const parts = children(ext.value);
      if (child(parts, 0, "extnID").whole.equals(oid("2.5.29.14"))) {
        const ski = child(child(parts, parts.length - 1, "extnValue").value, 0, "keyIdentifier");
        aki = extension("2.5.29.35", false, seq(tlv(0x80, ski.value)));
      }
    }
  }
  return { issuer: subject.whole, aki, issuerNotAfter: Date.parse(cert.validTo) };
}

interface Node {
  readonly tag: number;
  readonly value: Buffer;
  readonly whole: Buffer;
}

/** Child `i` of a constructed value (or of its children, already split); `what` names it. */
function child(of: Buffer | readonly Node[], i: number, what: string): Node {
  const node = (Array.isArray(of) ? of : children(of as Buffer))[i];
  if (node === undefined) throw new Error(`certificate DER: no ${what}`);
  return node;
}

/** The TLVs inside a constructed value (definite lengths, as DER requires). */
function children(buf: Buffer): Node[] {
  const out: Node[] = [];
  let i = 0;
  while (i < buf.length) {
    const start = i;
    if (i + 2 > buf.length) throw new Error("certificate DER: truncated");
    const tag = u8(buf, i++);
    let len = u8(buf, i++);
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 3) throw new Error("certificate DER: unsupported length");
      if (i + n > buf.length) throw new Error("certificate DER: truncated");
      len = 0;
      for (let k = 0; k < n; k++) len = (len << 8) | u8(buf, i++);
    }
    if (i + len > buf.length) throw new Error("certificate DER: truncated");
    out.push({ tag, value: buf.subarray(i, i + len), whole: buf.subarray(start, i + len) });
    i += len;
  }
  return out;
}

/** UTCTime for years 1950–2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
function time(ms: number): Buffer {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const p = (n: number) => String(n).padStart(2, "0");
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return y < 2050
    ? tlv(0x17, Buffer.from(`${p(y % 100)}${rest}`, "latin1"))
    : tlv(0x18, Buffer.from(`${y}${rest}`, "latin1"));
}

/** The GeneralName for a host: iPAddress [7] for an IP, dNSName [2] otherwise. */
function generalName(host: string): Buffer {
  const v4 = parseIpv4(host);
  if (v4 !== undefined)
    return tlv(0x87, Uint8Array.of(v4 >>> 24, (v4 >> 16) & 0xff, (v4 >> 8) & 0xff, v4 & 0xff));
  const v6 = parseIpv6(host);
  if (v6) {
    const b = Buffer.alloc(16);
    for (const [i, word] of v6.entries()) b.writeUInt32BE(word, i * 4);
    return tlv(0x87, b);
  }
  return tlv(0x82, Buffer.from(host, "latin1"));
}

/** A host the minter accepts: an IP address, or an LDH name of 253 characters at most. */
export function mintableName(host: string): boolean {
  if (parseIpv4(host) !== undefined || parseIpv6(host) !== undefined) return true;
  return (
    host.length > 0 &&
    host.length <= 253 &&
    /^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?$/.test(host)
  );
}

/**
 * The TBSCertificate for `host`. `serial` is 16 random bytes; `spki` the leaf key's
 * SubjectPublicKeyInfo DER. The subject is CN=host when it fits (64 characters); the name
 * clients check is the SAN, which is critical when the subject is empty (RFC 5280 §4.2.1.6).
 */
export function leafTbs(
  t: LeafTemplate,
  host: string,
  serial: Uint8Array,
  notBefore: number,
  notAfter: number,
  spki: Buffer,
): Buffer {
  const withCn = host.length <= 64;
  const subject = withCn ? seq(tlv(SET, seq(CN, tlv(0x0c, Buffer.from(host, "latin1"))))) : seq();
  const exts = [
    BASIC_CONSTRAINTS,
    KEY_USAGE,
    EXT_KEY_USAGE,
    extension(SAN, !withCn, seq(generalName(host))),
    ...(t.aki ? [t.aki] : []),
  ];
  return seq(
    V3,
    tlv(INT, serial),
    ECDSA_SHA256,
    t.issuer,
    seq(time(notBefore), time(notAfter)),
    subject,
    spki,
    tlv(0xa3, seq(...exts)),
  );
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING } */
export function leafCertificate(tbs: Buffer, signature: Buffer): Buffer {
  return seq(tbs, ECDSA_SHA256, tlv(BITS, Uint8Array.of(0), signature));
}

export function derToPem(der: Buffer): string {
  // One flat string (a loop of += would keep a rope of pieces alive per cached leaf).
  const body = der.toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN CERTIFICATE-----\n${body}${body.endsWith("\n") ? "" : "\n"}-----END CERTIFICATE-----\n`;
}
