// Resource records as text: the RDATA in presentation form (RFC 1035 §5.1, as dig prints it),
// for DoH's JSON answers and the query log's `answer` and `cnames` fields.

import { RRType, typeName } from "./constants.ts";
import type { ResourceRecord } from "./message.ts";

export function rdataText(rr: ResourceRecord): string {
  const d = rr.data;
  if (typeof d === "string")
    return rr.type === RRType.CNAME || rr.type === RRType.NS || rr.type === RRType.PTR
      ? `${d}.`
      : d;
  if (Array.isArray(d))
    return d.map((b) => JSON.stringify(Buffer.from(b).toString("utf8"))).join(" ");
  if (d instanceof Uint8Array) return `\\# ${d.length} ${Buffer.from(d).toString("hex")}`;
  if ("exchange" in d) return `${d.preference} ${d.exchange}.`;
  if ("target" in d) return `${d.priority} ${d.weight} ${d.port} ${d.target}.`;
  return `${d.mname}. ${d.rname}. ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
}

/** Longest `answer` / `cnames` text in a query-log record (the contract's bound). */
export const ANSWER_TEXT_MAX = 1024;
/** Records the `answer` text lists at most; more are counted (`… +N more`). */
const ANSWER_RECORDS_MAX = 16;
const RDATA_MAX = 200;

/**
 * The answer section for the query log: `cnames`, the CNAME chain's targets in order
 * (`b.example. c.example.`), and `answer`, the other records as `TYPE data` joined by `, `
 * (signatures left out). Each is bounded (ANSWER_TEXT_MAX), so a huge answer costs little.
 */
export function answerText(answers: readonly ResourceRecord[]): {
  answer: string | undefined;
  cnames: string | undefined;
} {
  let answer = "";
  let cnames = "";
  let listed = 0;
  let more = 0;
  for (const rr of answers) {
    if (rr.type === RRType.RRSIG) continue;
    if (rr.type === RRType.CNAME) {
      const name = rdataText(rr);
      if (cnames.length + name.length + 1 <= ANSWER_TEXT_MAX)
        cnames = cnames === "" ? name : `${cnames} ${name}`;
      continue;
    }
    if (listed >= ANSWER_RECORDS_MAX) {
      more++;
      continue;
    }
    let data = rdataText(rr);
    if (data.length > RDATA_MAX) data = `${data.slice(0, RDATA_MAX)}…`;
    const item = `${typeName(rr.type)} ${data}`;
    // Room is kept for the `… +N more` suffix.
    if (answer.length + item.length + 2 > ANSWER_TEXT_MAX - 16) {
      more++;
      listed = ANSWER_RECORDS_MAX;
      continue;
    }
    answer = answer === "" ? item : `${answer}, ${item}`;
    listed++;
  }
  if (more > 0) answer = `${answer}, … +${more} more`;
  return {
    answer: answer === "" ? undefined : answer,
    cnames: cnames === "" ? undefined : cnames,
  };
}
