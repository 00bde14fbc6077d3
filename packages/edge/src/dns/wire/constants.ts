// DNS numbers: RR types (RFC 1035 §3.2.2, RFC 3596, RFC 6891, …), classes, opcodes, response
// codes (RFC 1035 §4.1.1, RFC 6891 §9 for BADVERS) and Extended DNS Error codes (RFC 8914 §4).

export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  HINFO: 13,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  NAPTR: 35,
  DNAME: 39,
  OPT: 41,
  DS: 43,
  RRSIG: 46,
  NSEC: 47,
  DNSKEY: 48,
  NSEC3: 50,
  SVCB: 64,
  HTTPS: 65,
  ANY: 255,
  CAA: 257,
} as const;

export const RRClass = { IN: 1, CH: 3, HS: 4, NONE: 254, ANY: 255 } as const;

export const Opcode = { QUERY: 0, IQUERY: 1, STATUS: 2, NOTIFY: 4, UPDATE: 5 } as const;

export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** RFC 6891 §9: 12-bit extended code 16 (needs OPT). */
  BADVERS: 16,
} as const;

/** RFC 8914 §4 Extended DNS Error info codes used by the edge. */
export const Ede = {
  OTHER: 0,
  STALE_ANSWER: 3,
  FORGED_ANSWER: 4,
  DNSSEC_INDETERMINATE: 5,
  DNSSEC_BOGUS: 6,
  SIGNATURE_EXPIRED: 7,
  SIGNATURE_NOT_YET_VALID: 8,
  DNSKEY_MISSING: 9,
  RRSIGS_MISSING: 10,
  NO_ZONE_KEY_BIT: 11,
  NSEC_MISSING: 12,
  BLOCKED: 15,
  CENSORED: 16,
  FILTERED: 17,
  PROHIBITED: 18,
  NOT_READY: 14,
  NOT_AUTHORITATIVE: 20,
  NO_REACHABLE_AUTHORITY: 22,
  NETWORK_ERROR: 23,
  UNSUPPORTED_NSEC3_ITERATIONS: 27,
} as const;

/** EDNS option codes (IANA "DNS EDNS0 Option Codes"). */
export const EdnsOption = { NSID: 3, COOKIE: 10, PADDING: 12, EDE: 15 } as const;

const typeNames = new Map<number, string>();
for (const [k, v] of Object.entries(RRType)) typeNames.set(v, k);
const typeNumbers = new Map<string, number>(Object.entries(RRType));

/** "A", "AAAA", …; unknown types as "TYPE123" (RFC 3597 §5). */
export function typeName(t: number): string {
  return typeNames.get(t) ?? `TYPE${t}`;
}

/** Parse "A", "aaaa", "TYPE65", or a decimal number; undefined when unknown. */
export function typeNumber(name: string): number | undefined {
  const up = name.toUpperCase();
  const known = typeNumbers.get(up);
  if (known !== undefined) return known;
  const m = /^(?:TYPE)?([0-9]{1,5})$/.exec(up);
  if (m && Number(m[1]) <= 65535) return Number(m[1]);
  return undefined;
}

const classNames = new Map<number, string>([
  [1, "IN"],
  [3, "CH"],
  [4, "HS"],
  [254, "NONE"],
  [255, "ANY"],
]);
export function className(c: number): string {
  return classNames.get(c) ?? `CLASS${c}`;
}

const rcodeNames = new Map<number, string>();
for (const [k, v] of Object.entries(Rcode)) rcodeNames.set(v, k);
rcodeNames.set(6, "YXDOMAIN");
rcodeNames.set(7, "YXRRSET");
rcodeNames.set(8, "NXRRSET");
rcodeNames.set(9, "NOTAUTH");
rcodeNames.set(10, "NOTZONE");
export function rcodeName(r: number): string {
  return rcodeNames.get(r) ?? `RCODE${r}`;
}
