// Proxy auto-config (PAC) file served at GET /proxy.pac: browsers send everything through this
// proxy except the bundle's bypass domains (and plain host names), which go DIRECT. Rendered
// once per snapshot and proxy address (the address the client used to fetch the file).

/** Host[:port] as a client may have written it in Host; anything else is not echoed. */
const AUTHORITY = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:[0-9]{1,5})?$/;

export function isSafeAuthority(s: string): boolean {
  return AUTHORITY.test(s);
}

/** The PAC body for one set of bypass domains and a proxy authority. */
export function renderPac(bypassDomains: readonly string[], proxyAuthority: string): string {
  const names = [...new Set(bypassDomains.map((d) => d.toLowerCase().replace(/\.$/, "")))]
    .filter((d) => /^[a-z0-9_.-]+$/.test(d))
    .sort();
  // The bypass set is a JS object literal: lookup walks the host's parent domains, so the cost
  // per URL is the number of labels, not the number of bypass entries.
  const table = names.map((n) => JSON.stringify(n) + ":1").join(",");
  return `// Gatehouse proxy auto-config. Generated; do not edit.
var BYPASS = {${table}};
function FindProxyForURL(url, host) {
  host = host.toLowerCase();
  if (isPlainHostName(host)) return "DIRECT";
  for (var h = host; h.length > 0; ) {
    if (BYPASS.hasOwnProperty(h)) return "DIRECT";
    var i = h.indexOf(".");
    if (i < 0) break;
    h = h.substring(i + 1);
  }
  return "PROXY ${proxyAuthority}";
}
`;
}
