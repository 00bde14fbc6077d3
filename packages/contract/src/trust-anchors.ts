// DNSSEC trust anchors as the config holds them (`resolver.dnssec.trustAnchors`, the
// `--trust-anchor` file): DS or DNSKEY records in zone-file presentation, one per line, `;` or
// `#` starting a comment, TTL and class optional. This reads the text into checked fields, with
// the line at fault named in every error; control checks a PUT with it, checkBundle a bundle, and
// the edge's validator builds its keys from the fields (edge/src/dns/dnssec/records.ts).

interface TrustAnchorLine {
  /** 1-based line number in the text. */
  readonly line: number;
  /** Lowercased, without the trailing dot ("" for the root). */
  readonly owner: string;
  readonly type: "DS" | "DNSKEY";
  /** DS: key tag, algorithm, digest type. DNSKEY: flags, protocol (3), algorithm. */
  readonly numbers: readonly [number, number, number];
  /** DS: the digest in hex; DNSKEY: the public key in base64. */
  readonly data: string;
}

const LABEL = /^([A-Za-z0-9_*-]|\\.)+$/;

function ownerOf(text: string, where: string): string {
  if (!text.endsWith("."))
    throw new Error(`${where}: the owner "${text}" must be a fully qualified name ending in "."`);
  if (text === ".") return "";
  const name = text.slice(0, -1);
  if (
    name.length > 253 ||
    !name.split(".").every((l) => l.length > 0 && l.length <= 63 && LABEL.test(l))
  )
    throw new Error(`${where}: "${text}" is not a domain name`);
  return name.toLowerCase();
}

/** Parse the lines; throws an Error naming the first line that is not a DS or DNSKEY record. */
export function trustAnchorLines(text: string): TrustAnchorLine[] {
  const out: TrustAnchorLine[] = [];
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    const content = line.replace(/[;#].*$/, "").trim();
    if (content === "") continue;
    const where = `trust anchor line ${i + 1}`;
    const f = content.split(/\s+/);
    // A non-empty line splits into at least one field.
    const owner = ownerOf(f.shift() ?? "", where);
    if (/^[0-9]+$/.test(f[0] ?? "")) f.shift();
    if ((f[0] ?? "").toUpperCase() === "IN") f.shift();
    const type = (f.shift() ?? "").toUpperCase();
    if (type !== "DS" && type !== "DNSKEY")
      throw new Error(`${where}: only DS and DNSKEY records are trust anchors (found "${type}")`);
    const [a, b, c, ...rest] = f;
    const data = rest.join("");
    const shape =
      type === "DS"
        ? '"<owner> DS <key tag> <algorithm> <digest type> <hex digest>"'
        : '"<owner> DNSKEY <flags> 3 <algorithm> <base64 key>"';
    if (![a, b, c].every((x) => /^[0-9]{1,5}$/.test(x ?? "")) || data === "")
      throw new Error(`${where}: a ${type} record is ${shape}`);
    const numbers = [Number(a), Number(b), Number(c)] as [number, number, number];
    if (type === "DS") {
      if (numbers[0] > 65535 || numbers[1] > 255 || numbers[2] > 255)
        throw new Error(`${where}: a DS field is out of range`);
      if (!/^([0-9a-fA-F]{2})+$/.test(data)) throw new Error(`${where}: the DS digest is not hex`);
    } else {
      if (numbers[0] > 65535 || numbers[1] !== 3 || numbers[2] > 255)
        throw new Error(`${where}: a DNSKEY record is ${shape}`);
      if (!/^[A-Za-z0-9+/]+=*$/.test(data))
        throw new Error(`${where}: the DNSKEY key is not base64`);
    }
    out.push({ line: i + 1, owner, type, numbers, data });
  }
  return out;
}
