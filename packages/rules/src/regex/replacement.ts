/**
 * `regex_replace()` replacement templates (Cloudflare syntax): `${1}`…`${8}` insert capture
 * groups, `$$` inserts a literal `$`, every other byte is copied. Decisions:
 * - any other use of `$` (`$1`, `${0}`, `${9}`, `${name}`, a trailing `$`) is a parse-time error,
 *   so a typo cannot silently produce a different string;
 * - a reference to a group the regex does not have, or that did not take part in the match,
 *   expands to the empty string (as Rust's `Captures::expand` does).
 */

/** A pre-parsed template; produced only by parseReplacement(). */
export interface Replacement {
  /** The template as written (a binary string). */
  readonly template: string;
}

export class ParsedReplacement implements Replacement {
  readonly template: string;
  /** Literal text pieces; pieces[i] precedes groups[i]; one more piece than groups. */
  readonly pieces: readonly string[];
  readonly groups: readonly number[];

  constructor(template: string, pieces: string[], groups: number[]) {
    this.template = template;
    this.pieces = pieces;
    this.groups = groups;
  }
}

/** Highest capture reference the template syntax allows. */
const MAX_REFERENCE = 8;

export function parseReplacement(
  template: string,
): { ok: true; value: Replacement } | { ok: false; message: string } {
  const pieces: string[] = [];
  const groups: number[] = [];
  let text = "";
  let i = 0;
  while (i < template.length) {
    const c = template[i];
    if (c !== "$") {
      const next = template.indexOf("$", i);
      const end = next === -1 ? template.length : next;
      text += template.slice(i, end);
      i = end;
      continue;
    }
    if (template[i + 1] === "$") {
      text += "$";
      i += 2;
      continue;
    }
    if (template[i + 1] === "{") {
      const close = template.indexOf("}", i + 2);
      const body = close === -1 ? "" : template.slice(i + 2, close);
      if (close !== -1 && /^[1-9][0-9]*$/.test(body) && Number(body) <= MAX_REFERENCE) {
        pieces.push(text);
        groups.push(Number(body));
        text = "";
        i = close + 1;
        continue;
      }
      const shown = close === -1 ? template.slice(i) : template.slice(i, close + 1);
      return {
        ok: false,
        message: `invalid capture reference \`${shown}\` at byte offset ${i}: use \${1} to \${${MAX_REFERENCE}}, or $$ for a literal $`,
      };
    }
    return {
      ok: false,
      message: `lone \`$\` at byte offset ${i}: use \${1} to \${${MAX_REFERENCE}} for a capture group, or $$ for a literal $`,
    };
  }
  pieces.push(text);
  return { ok: true, value: new ParsedReplacement(template, pieces, groups) };
}
