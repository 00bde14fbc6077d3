// Incremental readers for bulk list bodies, so a million items never sit in memory as one body:
// a line splitter for text/plain and a tokenizer for a flat JSON array of strings and integers.
// Both decode UTF-8 strictly across chunk boundaries (invalid bytes are an error, not U+FFFD).

import { GatehouseError } from "@gatehouse/contract";
import { MAX_ITEM_LENGTH } from "./list-items.ts";

/** A line or JSON token may be at most this long before it is refused. */
const MAX_TOKEN = MAX_ITEM_LENGTH * 4 + 64;

function decoder(): TextDecoder {
  return new TextDecoder("utf-8", { fatal: true });
}

function decode(d: TextDecoder, chunk: Uint8Array | undefined): string {
  try {
    return chunk === undefined ? d.decode() : d.decode(chunk, { stream: true });
  } catch {
    throw new GatehouseError("GH_ERR_BAD_REQUEST", "body is not valid UTF-8");
  }
}

/** Yields lines (without terminators) with their 1-based numbers. */
export async function* readLines(
  body: AsyncIterable<Uint8Array>,
  maxBytes: number,
): AsyncGenerator<{ line: string; no: number }> {
  const d = decoder();
  let rest = "";
  let no = 0;
  let bytes = 0;
  for await (const chunk of body) {
    bytes += chunk.length;
    if (bytes > maxBytes) throw new GatehouseError("GH_ERR_PAYLOAD_TOO_LARGE", "body too large");
    const text = rest + decode(d, chunk);
    let start = 0;
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      yield { line: text.slice(start, end), no: ++no };
      start = nl + 1;
    }
    rest = text.slice(start);
    if (rest.length > MAX_TOKEN)
      throw new GatehouseError("GH_ERR_BAD_REQUEST", `line ${no + 1} is too long`);
  }
  rest += decode(d, undefined);
  if (rest.length > 0) yield { line: rest.endsWith("\r") ? rest.slice(0, -1) : rest, no: ++no };
}

const S = { start: 0, value: 1, afterValue: 2, done: 3 } as const;
type State = (typeof S)[keyof typeof S];

/**
 * Yields the elements of a top-level JSON array whose elements are strings or numbers
 * (RFC 8259 §5, §6, §7), with their 0-based index. Anything else is a 400.
 */
export async function* readJsonArray(
  body: AsyncIterable<Uint8Array>,
  maxBytes: number,
): AsyncGenerator<{ value: string | number; index: number }> {
  const d = decoder();
  let state: State = S.start;
  let index = 0;
  let bytes = 0;
  let token = ""; // a string or number being read across chunks
  let inString = false;
  let escaped = false;
  let inNumber = false;
  const bad = (what: string): never => {
    throw new GatehouseError("GH_ERR_BAD_REQUEST", `malformed JSON array: ${what}`, { index });
  };
  const finishNumber = (): number => {
    inNumber = false;
    const n = Number(token);
    if (!/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(token) || !Number.isFinite(n))
      bad(`bad number ${token.slice(0, 40)}`);
    token = "";
    state = S.afterValue;
    return n;
  };
  const feed = function* (text: string): Generator<{ value: string | number; index: number }> {
    for (let i = 0; i < text.length; i++) {
      const c = text.charAt(i);
      if (inString) {
        token += c;
        if (escaped) escaped = false;
        else if (c === "\\") escaped = true;
        else if (c === '"') {
          inString = false;
          let v: string;
          try {
            v = JSON.parse(token) as string;
          } catch {
            return bad("bad string");
          }
          token = "";
          state = S.afterValue;
          yield { value: v, index: index++ };
        } else if (c < " ") bad("control character in string");
        if (token.length > MAX_TOKEN) bad("item too long");
        continue;
      }
      if (inNumber) {
        if (
          (c >= "0" && c <= "9") ||
          c === "." ||
          c === "e" ||
          c === "E" ||
          c === "+" ||
          c === "-"
        ) {
          token += c;
          if (token.length > 40) bad("number too long");
          continue;
        }
        yield { value: finishNumber(), index: index++ };
      }
      if (c === " " || c === "\n" || c === "\r" || c === "\t") continue;
      switch (state) {
        case S.start:
          if (c !== "[") bad("expected [");
          state = S.value;
          break;
        case S.value:
          if (c === '"') {
            inString = true;
            token = c;
          } else if (c === "-" || (c >= "0" && c <= "9")) {
            inNumber = true;
            token = c;
          } else if (c === "]" && index === 0) state = S.done;
          else bad("expected a string or a number");
          break;
        case S.afterValue:
          if (c === ",") state = S.value;
          else if (c === "]") state = S.done;
          else bad("expected , or ]");
          break;
        case S.done:
          bad("data after the array");
      }
    }
  };
  for await (const chunk of body) {
    bytes += chunk.length;
    if (bytes > maxBytes) throw new GatehouseError("GH_ERR_PAYLOAD_TOO_LARGE", "body too large");
    yield* feed(decode(d, chunk));
  }
  yield* feed(decode(d, undefined));
  if (inNumber) bad("unterminated array");
  if ((state as State) !== S.done) bad("unterminated array");
}
