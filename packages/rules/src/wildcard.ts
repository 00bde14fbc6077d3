// `wildcard` / `strict wildcard` patterns (spec §3.5) and wildcard_replace (§4.2). A pattern is
// split once into literal segments between stars; matching is whole-value, `*` matches any run
// of bytes (including none), `?` is not special. Escapes: `\*` literal star, `\\` backslash.

export interface Wildcard {
  /** Literal segments between stars (already lower-cased when case-insensitive). */
  readonly segments: readonly string[];
  readonly caseInsensitive: boolean;
}

type WildcardParse = { ok: true; value: Wildcard } | { ok: false; message: string };

/** Validates and splits a pattern (bytes); errors use the texts wirefilter's crate produces. */
export function parseWildcard(
  pattern: string,
  caseInsensitive: boolean,
  starLimit = Number.POSITIVE_INFINITY,
): WildcardParse {
  const segments: string[] = [];
  let cur = "";
  let stars = 0;
  let prevStar = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      const n = pattern[i + 1];
      if (n === undefined) {
        return {
          ok: false,
          message: "invalid wildcard: unclosed escape at the end of the pattern",
        };
      }
      if (n !== "*" && n !== "\\") {
        return {
          ok: false,
          message: `invalid wildcard: invalid escape sequence \\${printable(n)} at offset ${i}`,
        };
      }
      cur += n;
      i++;
      prevStar = false;
    } else if (c === "*") {
      if (prevStar) return { ok: false, message: "wildcard contains a double star" };
      stars++;
      segments.push(cur);
      cur = "";
      prevStar = true;
    } else {
      cur += c;
      prevStar = false;
    }
  }
  segments.push(cur);
  if (stars > starLimit) {
    return {
      ok: false,
      message: `wildcard has ${stars} star metacharacters, but the limit is ${starLimit}`,
    };
  }
  return {
    ok: true,
    value: {
      segments: caseInsensitive ? segments.map(lowerAscii) : segments,
      caseInsensitive,
    },
  };
}

function printable(c: string): string {
  const code = c.charCodeAt(0);
  return code >= 0x20 && code < 0x7f ? c : `x${code.toString(16).padStart(2, "0")}`;
}

function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

function lowerCode(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** Does `seg` occur in `s` at `at`? (`seg` is pre-lowered when case-insensitive) */
function matchAt(s: string, at: number, seg: string, ci: boolean): boolean {
  if (at + seg.length > s.length) return false;
  if (!ci) return s.startsWith(seg, at);
  for (let i = 0; i < seg.length; i++) {
    if (lowerCode(s.charCodeAt(at + i)) !== seg.charCodeAt(i)) return false;
  }
  return true;
}

function find(s: string, from: number, seg: string, ci: boolean): number {
  if (!ci) return s.indexOf(seg, from);
  const last = s.length - seg.length;
  for (let i = from; i <= last; i++) if (matchAt(s, i, seg, ci)) return i;
  return -1;
}

/**
 * Matches, writing the [start, end) offsets of each star's capture into `caps` when given.
 * Stars are lazy: each middle segment is taken at its first occurrence, which is also the
 * leftmost successful assignment because a later star can always absorb more.
 */
export function wildcardMatch(w: Wildcard, s: string, caps?: number[]): boolean {
  const seg = w.segments;
  const ci = w.caseInsensitive;
  const n = seg.length;
  // A pattern splits into at least one segment (the empty pattern is one empty segment).
  const first = seg[0] ?? "";
  if (n === 1) return s.length === first.length && matchAt(s, 0, first, ci);
  if (!matchAt(s, 0, first, ci)) return false;
  let pos = first.length;
  const lastSeg = seg[n - 1] ?? "";
  const tailStart = s.length - lastSeg.length;
  if (tailStart < pos) return false;
  for (let k = 1; k < n - 1; k++) {
    const part = seg[k] ?? "";
    const at = find(s, pos, part, ci);
    if (at < 0 || at + part.length > tailStart) return false;
    if (caps) caps.push(pos, at);
    pos = at + part.length;
  }
  if (!matchAt(s, tailStart, lastSeg, ci)) return false;
  if (caps) caps.push(pos, tailStart);
  return true;
}

/** A parsed `${1}`..`${n}` / `$$` replacement template for wildcard_replace. */
type Template = readonly (string | number)[];

export function parseTemplate(
  text: string,
  maxRef: number,
): { ok: true; value: Template } | { ok: false; message: string } {
  const parts: (string | number)[] = [];
  let lit = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== "$") {
      lit += c;
      continue;
    }
    if (text[i + 1] === "$") {
      lit += "$";
      i++;
      continue;
    }
    const m = /^\$\{([0-9]+)\}/.exec(text.slice(i, i + 16));
    if (!m)
      return {
        ok: false,
        message: `invalid replacement reference at offset ${i}: use \${N} or $$`,
      };
    const ref = Number(m[1]);
    if (ref < 1 || ref > maxRef) {
      return {
        ok: false,
        message: `replacement references \${${ref}} but the pattern has ${maxRef} capture${maxRef === 1 ? "" : "s"}`,
      };
    }
    if (lit) parts.push(lit);
    lit = "";
    parts.push(ref);
    i += m[0].length - 1;
  }
  if (lit) parts.push(lit);
  return { ok: true, value: parts };
}

export function expandTemplate(t: Template, s: string, caps: readonly number[]): string {
  let out = "";
  for (const p of t) {
    out += typeof p === "string" ? p : s.slice(caps[(p - 1) * 2], caps[(p - 1) * 2 + 1]);
  }
  return out;
}
