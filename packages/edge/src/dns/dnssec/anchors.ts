// Trust anchors and negative trust anchors the validator starts from when the config names none.
//
// The root zone's key-signing keys as IANA publishes them (root-anchors): KSK-2017 (key tag
// 20326) and KSK-2024 (key tag 38696), both RSASHA256, as SHA-256 DS records. A configured
// `resolver.dnssec.trustAnchors` replaces these.
//
// Built-in negative trust anchors (RFC 7646): names that are private by definition and never
// delegated from the signed root, so an answer for them from a local upstream can never
// validate — the private address ranges' reverse zones (RFC 1918, RFC 6761 §6.1, RFC 4193),
// `home.arpa` (RFC 8375) and the top-level names people use on home and office networks.
// Conditionally forwarded suffixes are added to these at runtime (an internal forwarder answers
// for names the public tree does not hold).

export const ROOT_ANCHORS = `. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
. IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
`;

const PRIVATE_172 = Array.from({ length: 16 }, (_, i) => `${16 + i}.172.in-addr.arpa`);

export const BUILTIN_NEGATIVE_ANCHORS: readonly string[] = [
  "10.in-addr.arpa",
  ...PRIVATE_172,
  "168.192.in-addr.arpa",
  "254.169.in-addr.arpa",
  "d.f.ip6.arpa",
  "8.e.f.ip6.arpa",
  "9.e.f.ip6.arpa",
  "a.e.f.ip6.arpa",
  "b.e.f.ip6.arpa",
  "home.arpa",
  "corp",
  "home",
  "internal",
  "intranet",
  "lan",
  "local",
  "localdomain",
  "private",
];
