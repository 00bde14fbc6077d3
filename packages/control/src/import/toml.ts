// The part of TOML (v1.0) that Pi-hole v6 writes into pihole.toml: `[table.sub]` headers,
// `key = value` with basic/literal strings, integers, floats, booleans and arrays of those
// (across lines, with comments). Other values (inline tables, dates, multi-line strings) are
// read as absent, which the importer reports as it reports any missing setting.

type TomlValue = string | number | boolean | TomlValue[];
export type TomlTable = { [key: string]: TomlValue | TomlTable };

class TomlError extends Error {}

export function parseToml(text: string): TomlTable {
  const root: TomlTable = {};
  let table = root;
  let i = 0;
  let line = 1;
  const n = text.length;
  const ws = () => {
    for (;;) {
      while (i < n && (text[i] === " " || text[i] === "\t")) i++;
      if (text[i] === "#") while (i < n && text[i] !== "\n") i++;
      else return;
    }
  };
  const wsNl = () => {
    for (;;) {
      ws();
      if (text[i] === "\n" || text[i] === "\r") {
        if (text[i] === "\n") line++;
        i++;
      } else return;
    }
  };
  const fail = (m: string): never => {
    throw new TomlError(`pihole.toml line ${line}: ${m}`);
  };
  const key = (): string[] => {
    const parts: string[] = [];
    for (;;) {
      ws();
      if (text[i] === '"' || text[i] === "'") parts.push(str());
      else {
        const m = /^[A-Za-z0-9_-]+/.exec(text.slice(i, i + 256));
        if (!m) return fail("expected a key");
        parts.push(m[0]);
        i += m[0].length;
      }
      ws();
      if (text[i] !== ".") return parts;
      i++;
    }
  };
  const str = (): string => {
    const q = text[i++];
    let out = "";
    while (i < n && text[i] !== q) {
      if (text[i] === "\n") fail("unterminated string");
      if (q === '"' && text[i] === "\\") {
        const e = text[i + 1];
        const map: Record<string, string> = {
          n: "\n",
          t: "\t",
          r: "\r",
          '"': '"',
          "\\": "\\",
          b: "\b",
          f: "\f",
        };
        if (e !== undefined && e in map) {
          out += map[e];
          i += 2;
        } else if (e === "u" || e === "U") {
          const len = e === "u" ? 4 : 8;
          out += String.fromCodePoint(Number.parseInt(text.slice(i + 2, i + 2 + len), 16));
          i += 2 + len;
        } else fail("bad escape");
      } else out += text[i++];
    }
    if (text[i] !== q) fail("unterminated string");
    i++;
    return out;
  };
  const value = (): TomlValue | undefined => {
    const c = text[i];
    if (c === '"' || c === "'") {
      if (text.startsWith(c.repeat(3), i)) {
        const end = text.indexOf(c.repeat(3), i + 3);
        if (end < 0) fail("unterminated multi-line string");
        line += text.slice(i, end).split("\n").length - 1;
        i = end + 3;
        return undefined;
      }
      return str();
    }
    if (c === "[") {
      i++;
      const arr: TomlValue[] = [];
      for (;;) {
        wsNl();
        if (text[i] === "]") {
          i++;
          return arr;
        }
        const v = value();
        if (v !== undefined) arr.push(v);
        wsNl();
        if (text[i] === ",") i++;
        else if (text[i] !== "]") fail("expected , or ] in an array");
      }
    }
    if (c === "{") {
      let depth = 0;
      do {
        if (text[i] === "{") depth++;
        else if (text[i] === "}") depth--;
        i++;
      } while (i < n && depth > 0);
      return undefined;
    }
    const m = /^[^\s,\]#]+/.exec(text.slice(i, i + 128));
    if (!m) return fail("expected a value");
    i += m[0].length;
    const t = m[0];
    if (t === "true") return true;
    if (t === "false") return false;
    const num = Number(t.replace(/_/g, ""));
    return Number.isFinite(num) ? num : undefined;
  };
  const descend = (path: string[]): TomlTable => {
    let t = root;
    for (const p of path) {
      const next = t[p];
      if (next === undefined) t = t[p] = {};
      else if (typeof next === "object" && !Array.isArray(next)) t = next;
      else fail(`${path.join(".")} is not a table`);
    }
    return t;
  };
  for (;;) {
    wsNl();
    if (i >= n) return root;
    if (text[i] === "[") {
      if (text[i + 1] === "[") fail("arrays of tables are not expected in pihole.toml");
      i++;
      const path = key();
      if (text[i] !== "]") fail("expected ]");
      i++;
      table = descend(path);
    } else {
      const path = key();
      if (text[i] !== "=") fail("expected =");
      i++;
      ws();
      const v = value();
      const last = path.pop();
      // key() returns at least one part or throws.
      if (last === undefined) return fail("expected a key");
      const t = path.length ? descendFrom(table, path, fail) : table;
      if (v !== undefined) t[last] = v;
    }
    ws();
    if (i < n && text[i] !== "\n" && text[i] !== "\r") fail("unexpected text after a value");
  }
}

function descendFrom(t0: TomlTable, path: string[], fail: (m: string) => never): TomlTable {
  let t = t0;
  for (const p of path) {
    const next = t[p];
    if (next === undefined) t = t[p] = {};
    else if (typeof next === "object" && !Array.isArray(next)) t = next;
    else fail(`${p} is not a table`);
  }
  return t;
}
