// Type helpers for spec §2.1: parsing the type names an embedder writes ("Array<Bytes>") and
// printing them back the way wirefilter's error messages do.
import type { Type } from "./api.ts";

export const BOOL: Type = Object.freeze({ kind: "Bool" });
export const INT: Type = Object.freeze({ kind: "Int" });
export const BYTES: Type = Object.freeze({ kind: "Bytes" });
export const IP: Type = Object.freeze({ kind: "Ip" });
export const ARRAY_BOOL: Type = Object.freeze({ kind: "Array", of: BOOL });

export function arrayOf(of: Type): Type {
  return { kind: "Array", of };
}

/** Wirefilter allows 32 layers of compound types; deeper definitions are rejected. */
const MAX_TYPE_DEPTH = 32;

/** Parses "Bool", "Int", "Bytes", "Ip", "Array<T>", "Map<T>"; throws a plain Error otherwise. */
export function parseType(str: string): Type {
  const text = str.trim();
  let pos = 0;
  const fail = (why: string): never => {
    throw new Error(`invalid type ${JSON.stringify(str)}: ${why}`);
  };
  const parseAt = (depth: number): Type => {
    if (depth > MAX_TYPE_DEPTH) fail(`more than ${MAX_TYPE_DEPTH} nested layers`);
    const m = /^[A-Za-z]+/.exec(text.slice(pos));
    if (!m) return fail(`expected a type name at offset ${pos}`);
    const name = m[0];
    pos += name.length;
    switch (name) {
      case "Bool":
        return BOOL;
      case "Int":
        return INT;
      case "Bytes":
      case "String": // Cloudflare's docs call Bytes "String" (spec §2.1)
        return BYTES;
      case "Ip":
        return IP;
      case "Array":
      case "Map": {
        if (text[pos] !== "<") fail(`expected "<" after ${name}`);
        pos++;
        const of = parseAt(depth + 1);
        if (text[pos] !== ">") fail(`expected ">" at offset ${pos}`);
        pos++;
        return { kind: name, of };
      }
      default:
        return fail(`unknown type name ${JSON.stringify(name)}`);
    }
  };
  const t = parseAt(0);
  if (pos !== text.length) fail(`unexpected text at offset ${pos}`);
  return t;
}

/** Accepts a Type object or a type string; validates either. */
export function toType(t: string | Type): Type {
  if (typeof t === "string") return parseType(t);
  return parseType(typeToString(t));
}

export function typeToString(t: Type): string {
  switch (t.kind) {
    case "Array":
    case "Map":
      return `${t.kind}<${typeToString(t.of)}>`;
    case "Bool":
    case "Int":
    case "Bytes":
    case "Ip":
      return t.kind;
    default:
      throw new Error(`invalid type object ${JSON.stringify(t)}`);
  }
}

export function typeEquals(a: Type, b: Type): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "Array" || a.kind === "Map") {
    return typeEquals(a.of, (b as { of: Type }).of);
  }
  return true;
}

export function isArrayOfBool(t: Type): boolean {
  return t.kind === "Array" && t.of.kind === "Bool";
}
