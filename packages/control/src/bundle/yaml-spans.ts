// Where a JSON pointer into a YAML document starts in its text (1-based line and column), so an
// error about `/policies/3/expression` can name line 41 of gatehouse.yaml. A pointer that goes
// deeper than the document (a missing key) maps to the nearest node that exists.

import { GatehouseError } from "@gatehouse/contract";
import type YAML from "yaml";
import { yaml } from "../yaml.ts";
import type { SpanOf } from "./policy-tests.ts";

/** The span finder of a YAML text; undefined when the text does not parse. */
export function yamlSpans(text: string): SpanOf {
  const { isCollection, LineCounter, parseDocument } = yaml();
  const lines = new LineCounter();
  let doc: YAML.Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  } catch {
    return () => undefined;
  }
  return (path: string) => {
    const keys = path
      .split("/")
      .slice(1)
      .filter((k) => k !== "")
      .map((k) => k.replaceAll("~1", "/").replaceAll("~0", "~"));
    let node: unknown = doc.contents;
    for (const k of keys) {
      if (!isCollection(node)) break;
      const next = node.get(/^\d+$/.test(k) ? Number(k) : k, true);
      if (next === undefined || next === null) break;
      node = next;
    }
    const range = (node as { range?: [number, number, number] } | null)?.range;
    if (!range) return undefined;
    const { line, col } = lines.linePos(range[0]);
    return { line, column: col };
  };
}

/**
 * A validation error whose problems carry `path`s, with each problem's line and column in the
 * YAML added, and the first one's in the message: "line 12, column 5: /policies/0/expression …".
 */
export function withYamlSpans(err: unknown, spanOf: SpanOf): unknown {
  if (!(err instanceof GatehouseError)) return err;
  const details = err.details as { problems?: { path: string }[] } | undefined;
  const problems = details?.problems;
  if (!Array.isArray(problems) || problems.length === 0) return err;
  const located = problems.map((p) => ({ ...p, ...(spanOf(p.path) ?? {}) }));
  const first = located[0] as { line?: number; column?: number };
  const where = first.line !== undefined ? `line ${first.line}, column ${first.column}: ` : "";
  return new GatehouseError(err.code, `${where}${err.message}`, { ...details, problems: located });
}
