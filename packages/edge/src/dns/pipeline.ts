// The DNS pipeline: the one place the stage order is written down. Each stage is built once per
// config (its factory does any parsing) and its `run` only reads. A stage returns "next",
// "respond" (ex.response is set: skip to finalize) or "drop" (say nothing). An exception is a
// failure, mapped to SERVFAIL by `fail` (fail.ts); `record` runs for every query whatever happened, then
// `remember` keeps a reusable answer for the fast path. The fast path (dns-service.ts) answers a
// repeat from what `remember` kept with the same identify, admit and record code as the stages.

import type { DnsExchange, Outcome, Stage } from "./exchange.ts";
import { fail } from "./fail.ts";
import { createAdmitStage } from "./stages/admit.ts";
import { createAnyQueryStage } from "./stages/any-query.ts";
import { createCacheStage } from "./stages/cache.ts";
import { createCnameCloakStage } from "./stages/cname-cloak.ts";
import { createDecodeStage } from "./stages/decode.ts";
import { createFinalizeStage } from "./stages/finalize.ts";
import { createIdentifyStage } from "./stages/identify.ts";
import { createLocalZoneStage } from "./stages/local-zone.ts";
import { createPolicyQueryStage } from "./stages/policy-query.ts";
import { createPolicyResponseStage } from "./stages/policy-response.ts";
import { createRecordStage } from "./stages/record.ts";
import { createRecursionStage } from "./stages/recursion.ts";
import { createRememberStage } from "./stages/remember.ts";
import { createResolveStage } from "./stages/resolve.ts";
import { createSpecialNamesStage } from "./stages/special-names.ts";
import { createWriteStage } from "./stages/write.ts";

export type PipelineErrorSink = (error: unknown, ex: DnsExchange) => void;

export class DnsPipeline {
  /** Stages that decide the answer, in order. */
  readonly main: readonly Stage[];
  /** Stages that turn a decided answer into bytes. */
  readonly tail: readonly Stage[];
  readonly record: Stage;
  readonly remember: Stage;
  private readonly onError: PipelineErrorSink;

  constructor(onError: PipelineErrorSink) {
    this.onError = onError;
    const resolve = createResolveStage();
    this.main = [
      // Parse header, question and OPT; malformed input is answered or dropped here.
      createDecodeStage(),
      // Location by DoH token, DoT server name or source network; unknown clients refused.
      createIdentifyStage(),
      // Per-source token bucket, before anything that costs work.
      createAdmitStage(),
      // localhost, private reverse zones, the DoH canary: never forwarded, never policy-filtered.
      createSpecialNamesStage(),
      // Pre-resolution policies: blocks and overrides decided from the question alone.
      createPolicyQueryStage(),
      // ANY: one synthesized HINFO (RFC 8482), never a full answer from upstream.
      createAnyQueryStage(),
      // Local zones: authoritative answers for the config's own names, never forwarded.
      createLocalZoneStage(),
      // RD=0: nothing but local answers (above); the cache and upstreams are not consulted.
      createRecursionStage(),
      // Fresh cached answer (after policy so a block always wins; before resolve to save a trip).
      createCacheStage(),
      // Upstreams with singleflight, CNAME targets, prefetch; serve-stale or SERVFAIL on failure.
      resolve,
      // CNAME cloaking: every name of the answer's CNAME chain judged like the question.
      createCnameCloakStage(),
      // Post-resolution policies on the answer's addresses and names.
      createPolicyResponseStage(),
      // Again, for the target of a rewrite policy-response decided (else nothing to do).
      resolve,
    ];
    this.tail = [
      // Complete the message: question echo, CNAME prefix, AD, OPT and EDE.
      createFinalizeStage(),
      // Encode, truncating to the requester's UDP size.
      createWriteStage(),
    ];
    // The query's record and its event (query log, metrics, operational log), for every query.
    this.record = createRecordStage();
    // Keep the bytes of a reusable answer in the packet cache for the fast path.
    this.remember = createRememberStage();
  }

  /** Run one exchange; resolves to the bytes to send, or undefined to stay silent. */
  async run(ex: DnsExchange): Promise<Buffer | undefined> {
    try {
      let outcome: Outcome = "next";
      for (const stage of this.main) {
        const r = stage.run(ex);
        outcome = typeof r === "string" ? r : await r;
        if (outcome !== "next") break;
      }
      if (outcome !== "drop") for (const stage of this.tail) stage.run(ex);
    } catch (e) {
      this.fail(ex, e);
    } finally {
      try {
        this.record.run(ex);
        this.remember.run(ex);
      } catch (e) {
        this.onError(e, ex);
      }
    }
    return ex.out;
  }

  /** The single failure path: SERVFAIL with the failure's EDE (fail.ts), finalized and written. */
  private fail(ex: DnsExchange, error: unknown): void {
    this.onError(error, ex);
    fail(ex, error);
    try {
      for (const stage of this.tail) stage.run(ex);
    } catch (e) {
      this.onError(e, ex);
      ex.out = undefined;
    }
  }
}
