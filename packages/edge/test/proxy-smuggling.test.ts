// The smuggling corpora: every hostile request from http-garden (payloads that broke real
// proxies and servers) and every llhttp request case is sent through the proxy, followed on the
// same connection by a canary request. Each must be refused (and the connection closed) or
// forwarded in a normalised form the strict origin parses cleanly; and the canary must either
// get its own answer or never be read (connection closed after a refusal): never be swallowed,
// merged, or answered with another request's response.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  type Harness,
  parseResponses,
  rawExchange,
  type SeenRequest,
  startHarness,
} from "./proxy-harness.ts";

const peers = new URL("./fixtures/", import.meta.url);
const garden = JSON.parse(readFileSync(new URL("http-garden-payloads.json", peers), "utf8")) as {
  bugs: { category: string; number: number; title: string; payload_b64?: string[] }[];
};
const llhttp = JSON.parse(readFileSync(new URL("llhttp-cases.json", peers), "utf8")) as {
  cases: {
    file: string;
    section: string;
    title: string;
    meta: { type?: string };
    input_b64?: string;
    expected_outcome: string;
    expected_log: string[];
  }[];
};

/** Statuses that mean "refused": the proxy must close the connection after them. */
const REFUSALS = new Set([400, 403, 408, 413, 414, 431, 501, 505, 508]);

/** Point the first request line at the test origin in absolute-form; add Host if missing. */
function toProxyForm(
  payload: Buffer,
  originPort: number,
  tag: string,
): { bytes: Buffer; path: string } {
  const text = payload.toString("latin1");
  const eol = text.indexOf("\n");
  const line = eol < 0 ? text : text.slice(0, eol);
  const m = /^([^ ]+) (\/[^ ]*) (.*)$/.exec(line.replace(/\r$/, ""));
  if (!m) return { bytes: payload, path: "" };
  const path = `/${tag}${m[2]}`;
  let head = `${m[1]} http://origin.test:${originPort}${path} ${m[3]}`;
  const rest = eol < 0 ? "" : text.slice(eol + 1);
  const headEnd = rest.search(/\r?\n\r?\n/);
  const headers = headEnd < 0 ? rest : rest.slice(0, headEnd);
  if (!/^host:/im.test(headers)) head += `\r\nHost: origin.test`;
  return {
    bytes: Buffer.from(
      head + (eol < 0 ? "" : text.slice(eol - (line.endsWith("\r") ? 1 : 0))),
      "latin1",
    ),
    path,
  };
}

function canary(originPort: number, n: number): string {
  return `GET http://origin.test:${originPort}/canary-${n} HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n`;
}

/** What the strict origin received must itself be unambiguous. */
function assertClean(seen: SeenRequest, label: string): void {
  let cl = 0;
  let te = 0;
  for (let i = 0; i < seen.rawHeaders.length; i += 2) {
    const name = seen.rawHeaders[i]!.toLowerCase();
    assert.match(name, /^[!#$%&'*+.^_`|~0-9a-z-]+$/, `${label}: header name forwarded`);
    assert.doesNotMatch(seen.rawHeaders[i + 1]!, /[\0\r\n]/, `${label}: CR/LF/NUL forwarded`);
    if (name === "content-length") cl++;
    if (name === "transfer-encoding") te++;
  }
  assert.ok(cl <= 1 && !(cl > 0 && te > 0), `${label}: ambiguous framing forwarded`);
}

interface Outcome {
  refused: boolean;
  forwarded: number;
  canaryAnswered: boolean;
}

async function probe(h: Harness, payload: Buffer, label: string, n: number): Promise<Outcome> {
  const { bytes } = toProxyForm(payload, h.origin.port, `c${n}`);
  const { text, closed } = await rawExchange(
    h.port,
    Buffer.concat([bytes, Buffer.from(canary(h.origin.port, n))]),
    3000,
  );
  const seen = h.origin.seen.filter((s) => s.url.startsWith(`/c${n}/`) || s.url === `/canary-${n}`);
  for (const s of seen) assertClean(s, label);
  // The canary says `Connection: close`: every probe ends with a closed connection, whether the
  // proxy answered everything or refused part of it. A connection left open means the proxy
  // is still waiting for bytes that the hostile framing promised (a desync).
  assert.ok(closed, `${label}: connection left open`);
  const { responses, rest } = parseResponses(text);
  assert.equal(rest, "", `${label}: the proxy's output is a clean sequence of responses`);
  const refusedAt = responses.findIndex((r) => REFUSALS.has(r.status));
  if (refusedAt >= 0) {
    // After a refusal nothing more is read from the connection.
    assert.equal(
      refusedAt,
      responses.length - 1,
      `${label}: responses after a refusal: ${JSON.stringify(text)}`,
    );
    assert.equal(
      responses[refusedAt]!.headers.get("connection"),
      "close",
      `${label}: refusal keeps the connection`,
    );
  }
  const last = responses.at(-1);
  const canaryAnswered = last?.headers.get("x-origin-path") === `/canary-${n}`;
  for (const r of responses.slice(0, -1)) {
    assert.notEqual(
      r.headers.get("x-origin-path"),
      `/canary-${n}`,
      `${label}: canary answered out of order`,
    );
  }
  if (refusedAt < 0) {
    // Not refused: the canary must be answered unless the payload itself left a body pending.
    // (Or the payload asked for the connection to end: HTTP/1.0, `Connection: close`.)
    const pendingBody = seen.length === 0 && responses.length === 0;
    const closedByPayload = last?.headers.get("connection") === "close";
    assert.ok(
      canaryAnswered || pendingBody || closedByPayload,
      `${label}: canary lost (got ${responses.map((r) => r.status).join(",") || "nothing"})`,
    );
  }
  return {
    refused: refusedAt >= 0,
    forwarded: seen.filter((s) => !s.url.startsWith("/canary")).length,
    canaryAnswered,
  };
}

/** Run probes a few at a time (each on its own connection) to keep the suite fast. */
async function inBatches<T>(
  items: T[],
  size: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}

/** Whatever reached the origin was parseable and was one of the requests we aimed at it. */
function assertOriginClean(h: Harness): void {
  assert.equal(h.origin.parseErrors, 0, `origin parse errors: ${h.origin.parseErrorCodes.join()}`);
  for (const s of h.origin.seen)
    assert.match(s.url, /^\/(c\d+\/|canary-\d+$)/, `origin saw ${s.url}`);
}

describe("request smuggling corpora", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(undefined, { headersTimeoutMs: 2000 });
  });
  after(() => h.close());

  test("http-garden payloads: refused or normalised, canary never poisoned", async () => {
    const payloads: { label: string; bytes: Buffer; n: number }[] = [];
    for (const bug of garden.bugs) {
      for (const b64 of bug.payload_b64 ?? []) {
        payloads.push({
          label: `garden ${bug.category} #${bug.number}`,
          bytes: Buffer.from(b64, "base64"),
          n: payloads.length + 1,
        });
      }
    }
    let refused = 0;
    await inBatches(payloads, 8, async (p) => {
      if ((await probe(h, p.bytes, p.label, p.n)).refused) refused++;
    });
    assertOriginClean(h);
    assert.ok(payloads.length >= 70, `ran ${payloads.length} payloads`);
    assert.ok(
      refused > payloads.length / 2,
      `most hostile payloads are refused (${refused}/${payloads.length})`,
    );
  });

  test("llhttp request cases: what strict llhttp rejects is never forwarded", async () => {
    const cases = llhttp.cases
      .filter((c) => c.meta.type === "request" && c.input_b64 !== undefined)
      .map((c, i) => ({ c, n: 1000 + i }));
    const mismatches: string[] = [];
    await inBatches(cases, 8, async ({ c, n }) => {
      const label = `llhttp ${c.file} / ${c.section} / ${c.title}`;
      const o = await probe(h, Buffer.from(c.input_b64!, "base64"), label, n);
      // llhttp reports an error for the first bad byte; the messages it completed before that
      // are valid and may be forwarded, nothing after them may.
      const complete = c.expected_log.filter((l) => l.endsWith("message complete")).length;
      if (c.expected_outcome === "error" && o.forwarded > complete) mismatches.push(label);
    });
    assertOriginClean(h);
    assert.deepEqual(mismatches, [], "cases llhttp rejects must not be forwarded");
  });
});
