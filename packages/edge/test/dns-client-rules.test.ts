// Per-client pauses and settings (bundle `pauses[].client`, `clients`) through the DNS service:
// a paused client gets what the block policy blocks, only that client, until the pause ends;
// blocking off, safe search and skipped policies apply to their client only; the others keep
// the fast path and the memo, the clients with rules of their own bypass both.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { BlockingPause, ClientSettings } from "@gatehouse/contract";
import { DnsService } from "../src/dns/dns-service.ts";
import { decodeMessage } from "../src/dns/wire/message.ts";
import { compileSnapshot } from "../src/snapshot.ts";
import { QueryLog } from "../src/telemetry/query-log.ts";
import { ADS_BLOCK, a, buildQuery, type FakeUpstream, startFakeUpstream } from "./dns-helpers.ts";

const UPSTREAM_IP = "192.0.2.1";

describe("per-client pauses and settings", () => {
  let up: FakeUpstream;
  before(async () => {
    up = await startFakeUpstream(
      new Map([
        ["ads.example/1", { answers: [a("ads.example", UPSTREAM_IP)] }],
        ["ok.example/1", { answers: [a("ok.example", UPSTREAM_IP)] }],
        ["www.google.com/1", { answers: [a("www.google.com", "192.0.2.7")] }],
        [
          "forcesafesearch.google.com/1",
          { answers: [a("forcesafesearch.google.com", "216.239.38.120")] },
        ],
      ]),
    );
  });
  after(async () => up?.close());

  const service = (pauses: BlockingPause[], clients: ClientSettings[] = []) => {
    const log = new QueryLog(100);
    const svc = new DnsService(
      compileSnapshot({
        schemaVersion: 1,
        version: 1,
        resolver: {
          upstreams: [{ address: up.address }],
          dnssec: { validate: false },
          rateLimit: false,
        },
        locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
        ...ADS_BLOCK,
        ...(pauses.length > 0 ? { pauses } : {}),
        ...(clients.length > 0 ? { clients } : {}),
      }),
      { log },
    );
    let id = 1;
    const ask = async (name: string, ip: string) => {
      const out = await svc.handle(buildQuery(name, { id: id++ }), {
        transport: "udp",
        ip,
        port: 1,
      });
      assert.ok(out, `${name} from ${ip}: no answer`);
      const m = decodeMessage(out);
      return {
        answers: m.answers.map((r) => r.data),
        action: log.peekNewest(1)[0]?.action,
        reason: log.peekNewest(1)[0]?.reason,
      };
    };
    return { svc, log, ask };
  };

  it("a client pause lets that client resolve a blocked name, the others stay blocked, and it ends on time", async () => {
    const until = Date.now() + 400;
    const { svc, ask } = service([{ client: "127.0.0.1", until }]);
    // Only one client is paused: the rest keep the memo and the packet cache.
    assert.equal(svc.runtime.memoizable, true);
    assert.deepEqual(await ask("ads.example", "127.0.0.1"), {
      answers: [UPSTREAM_IP],
      action: "allow",
      reason: "blocking_paused",
    });
    // The same client as a dual-stack socket reports it.
    assert.deepEqual((await ask("ads.example", "::ffff:127.0.0.1")).answers, [UPSTREAM_IP]);
    assert.deepEqual(await ask("ads.example", "127.0.0.2"), {
      answers: ["0.0.0.0"],
      action: "block",
      reason: undefined,
    });
    // Another client's repeat takes the fast path; the paused client's never does.
    assert.ok(svc.tryFast(buildQuery("ads.example", { id: 90 }), "127.0.0.2", "udp"));
    assert.equal(svc.tryFast(buildQuery("ads.example", { id: 91 }), "127.0.0.1", "udp"), undefined);
    await sleep(Math.max(0, until - Date.now()) + 50);
    assert.deepEqual(await ask("ads.example", "127.0.0.1"), {
      answers: ["0.0.0.0"],
      action: "block",
      reason: undefined,
    });
  });

  it("a pause of everyone still turns the memo off (the answer depends on the time)", () => {
    const { svc } = service([{ client: "127.0.0.1" }, { until: Date.now() + 60_000 }]);
    assert.equal(svc.runtime.memoizable, false);
  });

  it("client settings: blocking off, policies skipped, safe search — each for its client only", async () => {
    const { svc, ask } = service(
      [],
      [
        { client: "127.0.0.3", blocking: false },
        { client: "127.0.0.4", safeSearch: true },
        { client: "127.0.0.5", skipPolicies: ["p"] },
        // Nothing but defaults: no rule of its own.
        { client: "127.0.0.6", blocking: true, safeSearch: false, skipPolicies: [] },
      ],
    );
    assert.equal(svc.runtime.memoizable, true);
    assert.deepEqual(await ask("ads.example", "127.0.0.3"), {
      answers: [UPSTREAM_IP],
      action: "allow",
      reason: "client_blocking_off",
    });
    assert.deepEqual(await ask("ads.example", "127.0.0.5"), {
      answers: [UPSTREAM_IP],
      action: "allow",
      reason: undefined,
    });
    assert.deepEqual((await ask("ads.example", "127.0.0.4")).answers, ["0.0.0.0"]);
    assert.deepEqual((await ask("ads.example", "127.0.0.6")).answers, ["0.0.0.0"]);
    const safe = await ask("www.google.com", "127.0.0.4");
    assert.deepEqual(safe.answers, ["forcesafesearch.google.com", "216.239.38.120"]);
    assert.equal(safe.action, "safesearch");
    assert.equal(safe.reason, "client_safe_search");
    assert.deepEqual((await ask("www.google.com", "127.0.0.3")).answers, ["192.0.2.7"]);
    assert.deepEqual((await ask("ok.example", "127.0.0.4")).answers, [UPSTREAM_IP]);
    assert.equal(svc.tryFast(buildQuery("ads.example", { id: 92 }), "127.0.0.3", "udp"), undefined);
    assert.equal(svc.runtime.ownRules?.has("127.0.0.6"), false);
  });
});
