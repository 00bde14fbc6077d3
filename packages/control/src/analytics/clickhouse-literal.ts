// Parameter binding for ClickHouse. The server this project supports includes Debian's 18.16,
// which predates server-side query parameters ({name:Type} arrived in 19.x), so the official
// client's `query_params` fail there. Statements are still written with `{name:Type}`
// placeholders, and this one function renders each bound value as a typed literal in a single
// pass (a value containing placeholder-like text is never rescanned).

import type { Params } from "./query-sql.ts";

/** ClickHouse string literal: backslash escapes for quote, backslash and control bytes. */
function stringLiteral(s: string): string {
  let out = "'";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    const code = s.charCodeAt(i);
    if (ch === "'" || ch === "\\") out += `\\${ch}`;
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}'`;
}

const PLACEHOLDER = /\{(p\d+):(String|Int64)\}/g;

export function bindClickHouse(sql: string, params: Params): string {
  return sql.replace(PLACEHOLDER, (_m, name: string, type: string) => {
    const v = params.values[name];
    if (v === undefined) throw new Error(`unbound parameter ${name}`);
    if (type === "Int64") {
      if (typeof v !== "number" || !Number.isSafeInteger(v)) {
        throw new Error(`parameter ${name} is not an integer`);
      }
      // A bare decimal literal: LIMIT accepts only a literal number, not an expression.
      return String(v);
    }
    return stringLiteral(String(v));
  });
}
