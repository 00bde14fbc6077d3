// Text export encoders shared by both stores: NDJSON (one QueryLogRecord per line) and CSV
// (RFC 4180: CRLF line ends, a header line, fields quoted when they hold a comma, quote, CR or
// LF, quotes doubled — §2 rules 1, 3, 6, 7). Rows arrive in chunks and leave as ~64 KiB strings
// so a large export streams with backpressure instead of building one buffer.

import { Readable } from "node:stream";
import { COLUMN_NAMES, rowToRecord } from "./columns.ts";

const FLUSH_AT = 64 * 1024;

function csvField(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "string" ? v : String(v);
  if (/[",\r\n]/.test(s)) return `"${s.replaceAll('"', '""')}"`;
  return s;
}

function csvHeader(): string {
  return `${COLUMN_NAMES.join(",")}\r\n`;
}

function csvLine(row: readonly unknown[]): string {
  let out = "";
  for (let i = 0; i < row.length; i++) {
    if (i > 0) out += ",";
    out += csvField(row[i]);
  }
  return `${out}\r\n`;
}

function ndjsonLine(row: readonly unknown[]): string {
  return `${JSON.stringify(rowToRecord(row))}\n`;
}

/** A Readable of text from chunks of rows (values in COLUMNS order). */
export function encodeRows(
  chunks: AsyncIterable<readonly (readonly unknown[])[]>,
  format: "ndjson" | "csv",
): Readable {
  const line = format === "csv" ? csvLine : ndjsonLine;
  async function* gen(): AsyncGenerator<string> {
    let buf = format === "csv" ? csvHeader() : "";
    for await (const rows of chunks) {
      for (const row of rows) {
        buf += line(row);
        if (buf.length >= FLUSH_AT) {
          yield buf;
          buf = "";
        }
      }
    }
    if (buf.length > 0) yield buf;
  }
  return Readable.from(gen(), { objectMode: false });
}

export const CONTENT_TYPES = {
  ndjson: "application/x-ndjson",
  csv: "text/csv; charset=utf-8",
  parquet: "application/vnd.apache.parquet",
} as const;
