// The proxy's stage order, named once. Each stage is built by its factory at startup (all
// parsing and allocation there) and only reads config per request. A stage returns an outcome:
// "next", "respond" (an answer such as 403 or 407 is on the exchange: skip to respond) or
// "drop" (close without an answer). Exceptions are failures: `fail` turns them into 5xx.
// `record` always runs, last.

import type { RequestLog } from "../telemetry/request-log.ts";
import type { AddressGuard } from "./address-guard.ts";
import { createAdmit } from "./admit.ts";
import type { AuthFailureLimiter } from "./auth-limiter.ts";
import { createConnect } from "./connect.ts";
import type { ProxyQueryLog, ProxyResolver } from "./edge-view.ts";
import { accountSocketBytes, type Exchange, type Outcome, type Stage } from "./exchange.ts";
import { fail } from "./fail.ts";
import { createForward } from "./forward.ts";
import type { OriginPool } from "./http1/origin-pool.ts";
import { createIdentify } from "./identify.ts";
import type { ProxyLimits } from "./limits.ts";
import { createMaxForwards } from "./max-forwards.ts";
import { createParseTarget } from "./parse-target.ts";
import { createPolicyRequest, type PolicyContexts } from "./policy-request.ts";
import { createPolicyResponse } from "./policy-response.ts";
import type { ProxyMetrics } from "./proxy-metrics.ts";
import { createRecord, type Recorder } from "./record.ts";
import type { HeadCheckConfig } from "./request-head.ts";
import { createResolvePeer } from "./resolve-peer.ts";
import { createRespond } from "./respond.ts";
import {
  createDial,
  createEstablish,
  createPeekClientHello,
  createPolicySni,
  createSplice,
  createTunnelRespond,
} from "./tunnel.ts";
import {
  addKernelRelayedBytes,
  createCheckUpgrade,
  createForwardUpgrade,
  createSwitchProtocols,
  createUpgradeRespond,
} from "./upgrade.ts";
import { createUpstreamRequest } from "./upstream-request.ts";

export interface PipelineDeps {
  readonly limits: ProxyLimits;
  readonly resolver: ProxyResolver;
  readonly guard: AddressGuard;
  /** Failed proxy authentication per client address, one for all pipelines. */
  readonly authLimiter: AuthFailureLimiter;
  readonly pool: OriginPool;
  readonly contexts: PolicyContexts;
  readonly metrics: ProxyMetrics;
  readonly log: ProxyQueryLog;
  /** This proxy's Via pseudonym (RFC 9110 §7.6.3), e.g. "gatehouse-3f9a1c". */
  readonly viaToken: string;
  readonly edgeId?: string;
  /** Operational line per finished request (telemetry/request-log.ts). */
  readonly requestLog?: RequestLog;
}

/** The request-head checks every listener path applies (request-head.ts). */
export function headCheckOf(d: PipelineDeps): HeadCheckConfig {
  return {
    maxHeaderCount: d.limits.maxHeaderCount,
    maxUrlLength: d.limits.maxUrlLength,
    viaToken: d.viaToken.toLowerCase(),
  };
}

export interface Pipeline {
  readonly stages: readonly Stage[];
  run(ex: Exchange): Promise<void>;
}

/** From the request head to a checked peer address: shared by every pipeline. */
function admissionStages(d: PipelineDeps): Stage[] {
  return [
    // Framing and target first: nothing may act on a request whose framing is doubtful.
    createParseTarget(headCheckOf(d)),
    // Location and credentials: admission and identity.* rule fields need them.
    createIdentify({ limiter: d.authLimiter, metrics: d.metrics }),
    // Unknown clients (403) and missing auth (407) stop here, before any policy or DNS work.
    createAdmit(),
    // Network, then HTTP policies (spec §5.7); a block costs no lookup and no connection.
    createPolicyRequest(d.contexts),
    // TRACE/OPTIONS with Max-Forwards: 0 are ours to answer (RFC 9110 §7.6.2).
    createMaxForwards(),
    // Through the DNS pipeline; SSRF guard on the address that will be dialled.
    createResolvePeer(d.resolver, d.guard),
  ];
}

/** … then to the head the origin will see: shared by plain HTTP and upgrades. */
function requestStages(d: PipelineDeps, via: string): Stage[] {
  return [
    ...admissionStages(d),
    // A pooled connection to exactly that address.
    createConnect(),
    // The head the origin sees: hop-by-hop stripped, Host from the target, Via added.
    createUpstreamRequest(via),
  ];
}

export function createHttpPipeline(d: PipelineDeps): Pipeline {
  const via = `1.1 ${d.viaToken}`;
  return runner(
    [
      ...requestStages(d, via),
      // Send, stream the body, wait for the response head.
      createForward(d.pool),
      // Policies on response fields, while the answer can still be replaced.
      createPolicyResponse(d.contexts),
      // Write the origin's response or our own answer.
      createRespond(via),
    ],
    d,
  );
}

/**
 * Plain-HTTP requests asking to switch protocols (WebSocket), whose socket the connection loop
 * hands over: the same request stages and policies as any request (a block is a 403 and nothing is
 * upgraded), then the upgrade asked of the origin and, on its 101, a relay.
 */
export function createUpgradePipeline(d: PipelineDeps): Pipeline {
  const via = `1.1 ${d.viaToken}`;
  return runner(
    [
      // A valid protocol list and no body: the raw socket leaves us no framing to rely on.
      createCheckUpgrade(),
      ...requestStages(d, via),
      // Asks the origin to upgrade (fresh connection, taken out of the pool on a 101).
      createForwardUpgrade(d.pool),
      createPolicyResponse(d.contexts),
      // 101 to the client, then bytes both ways until either side closes or goes idle.
      createSwitchProtocols(via, d.limits, d.metrics),
      // Our answer, or the origin's non-101 answer, then close.
      createUpgradeRespond(via),
    ],
    d,
  );
}

export function createTunnelPipeline(d: PipelineDeps): Pipeline {
  return runner(
    [
      // Network policies run on the CONNECT authority (the SNI presumed to be that host: 403
      // possible); resolution and the SSRF check come before the 200, so failures are still
      // proper HTTP answers.
      ...admissionStages(d),
      // 200: from here on the client speaks its own protocol (TLS).
      createEstablish(),
      // Read the ClientHello's SNI without terminating TLS.
      createPeekClientHello(d.limits),
      // Network policies again with the real SNI; a block ends the tunnel with a TLS alert.
      createPolicySni(d.contexts),
      // Only now touch the destination: dial the pinned address.
      createDial(d.limits, d.metrics),
      // Relay both ways with backpressure until either side closes.
      createSplice(d.limits, d.metrics),
      // An HTTP answer before the 200, a TLS alert or close after it.
      createTunnelRespond(),
    ],
    d,
  );
}

function runner(stages: Stage[], d: PipelineDeps): Pipeline {
  const respondAt = stages.findIndex((s) => s.name === "respond");
  const respond = stages[respondAt]!;
  const recorder: Recorder = createRecord(d.log, d.metrics, d.edgeId, d.requestLog);
  return {
    stages,
    async run(ex: Exchange): Promise<void> {
      try {
        try {
          let i = 0;
          while (i < stages.length) {
            let o: Outcome | Promise<Outcome> = stages[i]!.run(ex);
            if (typeof o !== "string") o = await o;
            if (o === "next") i++;
            else if (o === "respond") {
              if (i >= respondAt) break;
              i = respondAt;
            } else {
              ex.socket.destroy();
              break;
            }
          }
        } catch (err) {
          fail(ex, err);
          await respond.run(ex);
        }
      } catch {
        // Even the error answer failed (socket gone): nothing left to say to the client.
        ex.socket.destroy();
      } finally {
        try {
          if (ex.transport === "http") {
            accountSocketBytes(ex);
            addKernelRelayedBytes(ex);
          }
          recorder.record(ex);
        } catch {
          // A record that cannot be built must not take the process down (run() is not
          // awaited by anyone); count it and go on.
          d.metrics.error("internal");
        }
      }
    },
  };
}
