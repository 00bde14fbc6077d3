// Every kind of the edge's error catalogue gets the same DNS answer whichever way it arrives:
// through dns/fail.ts directly (the pipeline's failure path and resolve's) and through a whole
// pipeline run whose upstream fails.

import assert from "node:assert/strict";
import { test } from "node:test";
import { type ConfigBundle, EDGE_ERRORS, EdgeError, type EdgeErrorKind } from "@gatehouse/contract";
import { buildQuery } from "../../test/dns-helpers.ts";
import { compileSnapshot } from "../snapshot.ts";
import { DnsCache } from "./cache/dns-cache.ts";
import { newExchange } from "./exchange.ts";
import { fail } from "./fail.ts";
import { DnsPipeline } from "./pipeline.ts";
import { createRuntime } from "./runtime.ts";
import { createDecodeStage } from "./stages/decode.ts";
import { Rcode } from "./wire/constants.ts";
import { readEde } from "./wire/edns.ts";
import { decodeMessage } from "./wire/message.ts";

const bundle: ConfigBundle = {
  schemaVersion: 1,
  version: 1,
  // Nothing listens on the discard port: every query to it fails.
  resolver: { upstreams: [{ address: "udp://127.0.0.1:9", timeoutMs: 300 }] },
  locations: [{ id: "lo", name: "Loopback", networks: ["127.0.0.0/8"] }],
  lists: [],
  policies: [],
};
const rt = createRuntime(compileSnapshot(bundle), { cache: new DnsCache(), inflight: new Map() });
const client = { transport: "udp", ip: "127.0.0.1", port: 5353 } as const;

test("fail: every kind is SERVFAIL with the catalogue's EDE and reason", () => {
  for (const kind of Object.keys(EDGE_ERRORS) as EdgeErrorKind[]) {
    const info = EDGE_ERRORS[kind];
    const ex = newExchange(rt, buildQuery("fail.example"), client);
    assert.equal(createDecodeStage().run(ex), "next");
    fail(ex, new EdgeError(kind, `${kind} happened`, { where: "192.0.2.1:53" }));
    assert.equal(ex.response?.rcode, Rcode.SERVFAIL, kind);
    assert.equal(ex.action, "error", kind);
    assert.equal(ex.reason, info.reason, kind);
    const ede = readEde({ udpSize: 0, version: 0, extRcode: 0, do: false, z: 0, options: ex.ede });
    assert.deepEqual(
      ede.map((e) => e.infoCode),
      [info.ede],
      kind,
    );
    // Which upstream and why go to the log, never to the client.
    assert.ok(!ede[0]!.extraText.includes("192.0.2.1"), kind);
    if (info.source === "upstream") assert.equal(ex.upstream, "192.0.2.1:53", kind);
  }
  // Anything that is not an edge error is an internal one.
  const ex = newExchange(rt, buildQuery("fail.example"), client);
  createDecodeStage().run(ex);
  fail(ex, new TypeError("boom"));
  assert.equal(ex.reason, "internal");
  assert.equal(
    readEde({ udpSize: 0, version: 0, extRcode: 0, do: false, z: 0, options: ex.ede })[0]!.infoCode,
    0,
  );
});

test("a pipeline whose upstream fails answers what the catalogue says for the reason logged", async () => {
  const pipeline = new DnsPipeline(() => {});
  const ex = newExchange(rt, buildQuery("unreachable.example"), client);
  const out = await pipeline.run(ex);
  assert.ok(out !== undefined);
  const m = decodeMessage(out);
  assert.equal(m.rcode, Rcode.SERVFAIL);
  const kind = ex.reason as EdgeErrorKind;
  assert.ok(kind in EDGE_ERRORS && kind.startsWith("upstream_"), `reason ${ex.reason}`);
  assert.deepEqual(
    readEde(m.edns).map((e) => e.infoCode),
    [EDGE_ERRORS[kind].ede],
  );
  assert.equal(ex.upstream, "udp://127.0.0.1:9");
});

test("a DNSSEC-bogus answer is an edge error: SERVFAIL with its cause's EDE and text, nothing of the answer kept", () => {
  const ex = newExchange(rt, buildQuery("bogus.example"), client);
  assert.equal(createDecodeStage().run(ex), "next");
  ex.answer = { rcode: Rcode.NOERROR, ad: false, answers: [], authorities: [], additionals: [] };
  // RFC 8914 §4.8: 7 "Signature Expired", the verdict's cause.
  const err = new EdgeError("dnssec_bogus", "RRSIG expired", {
    where: "192.0.2.1:53",
    ede: 7,
    detail: "RRSIG expired",
  });
  assert.equal(err.source, "upstream");
  assert.equal(err.retryable, false);
  fail(ex, err);
  assert.equal(ex.response?.rcode, Rcode.SERVFAIL);
  assert.equal(ex.action, "error");
  assert.equal(ex.reason, "dnssec_bogus");
  assert.equal(ex.dnssec, "bogus");
  assert.equal(ex.answer, undefined);
  assert.equal(ex.upstream, "192.0.2.1:53");
  assert.equal(ex.errorDetail, "RRSIG expired");
  const ede = readEde({ udpSize: 0, version: 0, extRcode: 0, do: false, z: 0, options: ex.ede });
  assert.deepEqual(
    ede.map((e) => [e.infoCode, e.extraText]),
    [[7, "RRSIG expired"]],
  );
});

test("a zone transfer that fails is one SERVFAIL message, not the zone's records", () => {
  const ex = newExchange(rt, buildQuery("lan.test", { type: 252 }), {
    transport: "tcp",
    ip: "127.0.0.1",
    port: 5353,
  });
  createDecodeStage().run(ex);
  ex.transfer = [{ name: "lan.test", type: 1, class: 1, ttl: 60, data: "192.0.2.1" }];
  fail(ex, new TypeError("a record too large for a message"));
  for (const stage of new DnsPipeline(() => {}).tail) stage.run(ex);
  assert.equal(ex.more, undefined, "nothing follows");
  const m = decodeMessage(ex.out!);
  assert.equal(m.rcode, Rcode.SERVFAIL);
  assert.equal(m.answers.length, 0);
});
