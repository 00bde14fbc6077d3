// The proxy's pipelines, each written down once: plain HTTP, the CONNECT tunnel, the upgrade
// (WebSocket) and PAC serving. Every stage lives in `stages/`, one file each, named for what it
// does; a pipeline is the stages that decide and carry out the exchange, the stage that writes
// its answer, and `record`. Each stage is built by its factory at startup (all parsing and
// allocation there) and only reads config per request. A stage returns an outcome: "next",
// "respond" (an answer such as 403 or 407 is on the exchange: skip to the pipeline's respond
// stage) or "drop" (close without an answer): at once, as a promise, or WAIT (whatever it waits
// for wakes the exchange, and its `resume` gives the outcome: see runner). Exceptions are
// failures: `fail` turns them into an answer, which the respond stage writes. `record` always
// runs, last: it publishes the exchange's event, which the query log, the operational log and
// the metrics subscribe to (index.ts).

import { EdgeError } from "@gatehouse/contract/errors";
import type { AddressGuard } from "./address-guard.ts";
import type { AuthFailureLimiter } from "./auth-limiter.ts";
import type { ProxyResolver } from "./edge-view.ts";
import {
  type Exchange,
  type Outcome,
  type Resumer,
  type Stage,
  type Step,
  WAIT,
} from "./exchange.ts";
import { fail } from "./fail.ts";
import type { OriginPool } from "./http1/origin-pool.ts";
import type { ProxyLimits } from "./limits.ts";
import type { ProxyMetrics } from "./proxy-metrics.ts";
import type { HeadCheckConfig } from "./request-head.ts";
import { createAdmit } from "./stages/admit.ts";
import { createCheckUpgrade } from "./stages/check-upgrade.ts";
import { createConnectDestination } from "./stages/connect-destination.ts";
import { createConnectOrigin } from "./stages/connect-origin.ts";
import { createEstablishTunnel } from "./stages/establish-tunnel.ts";
import { createForward } from "./stages/forward.ts";
import { createForwardUpgrade } from "./stages/forward-upgrade.ts";
import { createIdentify } from "./stages/identify.ts";
import { createInspectTls, type Inspector } from "./stages/inspect-tls.ts";
import { createMaxForwards } from "./stages/max-forwards.ts";
import { createParseTarget } from "./stages/parse-target.ts";
import { createPeekClientHello } from "./stages/peek-client-hello.ts";
import { createPolicyRequest, type PolicyContexts } from "./stages/policy-request.ts";
import { createPolicyResponse } from "./stages/policy-response.ts";
import { createPolicySni } from "./stages/policy-sni.ts";
import { createRecord } from "./stages/record.ts";
import { createRelayTunnel } from "./stages/relay-tunnel.ts";
import { createResolvePeer } from "./stages/resolve-peer.ts";
import { createRespond } from "./stages/respond.ts";
import { createRespondTunnel } from "./stages/respond-tunnel.ts";
import { createRespondUpgrade } from "./stages/respond-upgrade.ts";
import { createServePac } from "./stages/serve-pac.ts";
import { createSwitchProtocols } from "./stages/switch-protocols.ts";
import { createUpstreamRequest } from "./stages/upstream-request.ts";

export interface PipelineDeps {
  readonly limits: ProxyLimits;
  readonly resolver: ProxyResolver;
  readonly guard: AddressGuard;
  /** Failed proxy authentication per client address, one for all pipelines. */
  readonly authLimiter: AuthFailureLimiter;
  readonly pool: OriginPool;
  readonly contexts: PolicyContexts;
  /** Gauges and counters of the proxy's machinery (per-request counts come from its events). */
  readonly metrics: ProxyMetrics;
  /** This proxy, as its telemetry events name it (stages/record.ts). */
  readonly origin: object;
  /** This proxy's Via pseudonym (RFC 9110 §7.6.3), e.g. "gatehouse-3f9a1c". */
  readonly viaToken: string;
  readonly edgeId?: string;
  /** TLS inspection (stages/inspect-tls.ts); absent: CONNECTs are always tunnelled. */
  inspector?: Inspector;
}

/** The request-head checks every listener path applies (request-head.ts). */
export function headCheckOf(d: PipelineDeps): HeadCheckConfig {
  return {
    maxHeaderCount: d.limits.maxHeaderCount,
    maxUrlLength: d.limits.maxUrlLength,
    viaToken: d.viaToken.toLowerCase(),
  };
}

/** A pipeline as written down: what runs, what answers, what records. */
export interface PipelineSpec {
  readonly name: string;
  /** Stages that decide and carry out the exchange, in order. */
  readonly stages: readonly Stage[];
  /** Writes the answer (the origin's or ours); reached after the stages, on "respond", and
   * after a failure. */
  readonly respond: Stage;
  /** Query log, metrics, events: for every exchange whatever happened. */
  readonly record: Stage;
}

export interface Pipeline extends PipelineSpec {
  /** Run the exchange; settles once it is recorded. */
  run(ex: Exchange): Promise<void>;
  /** The same without a promise (nobody waits for the end of a plain request). */
  start(ex: Exchange): void;
}

/** From the request head to a checked peer address: shared by every pipeline. */
export function admissionStages(d: PipelineDeps): Stage[] {
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

/**
 * … then a connection to the origin and the head it will see: plain HTTP and upgrades (`fresh`:
 * a connection of its own, never pooled).
 */
export function originStages(d: PipelineDeps, via: string, fresh: boolean): Stage[] {
  return [
    ...admissionStages(d),
    // A connection to exactly that address: pooled keep-alive, or dialled now.
    createConnectOrigin(d.pool, fresh),
    // The head the origin sees: hop-by-hop stripped, Host from the target, Via added.
    createUpstreamRequest(via),
  ];
}

export function httpPipelineSpec(d: PipelineDeps): PipelineSpec {
  const via = `1.1 ${d.viaToken}`;
  return {
    name: "http",
    stages: [
      ...originStages(d, via, false),
      // Send, stream the body, wait for the response head.
      createForward(d.pool),
      // Policies on response fields, while the answer can still be replaced.
      createPolicyResponse(d.contexts),
    ],
    // Write the origin's response or our own answer.
    respond: createRespond(via),
    record: createRecord(d, "client-socket"),
  };
}

/**
 * Plain-HTTP requests asking to switch protocols (WebSocket), whose socket the connection loop
 * hands over: the same request stages and policies as any request (a block is a 403 and nothing is
 * upgraded), then the upgrade asked of the origin and, on its 101, a relay.
 */
export function upgradePipelineSpec(d: PipelineDeps): PipelineSpec {
  const via = `1.1 ${d.viaToken}`;
  return {
    name: "upgrade",
    stages: [
      // A valid protocol list and no body: the raw socket leaves us no framing to rely on.
      createCheckUpgrade(),
      ...originStages(d, via, true),
      // Asks the origin to upgrade (fresh connection, taken out of the pool on a 101).
      createForwardUpgrade(d.pool),
      createPolicyResponse(d.contexts),
      // 101 to the client, then bytes both ways until either side closes or goes idle.
      createSwitchProtocols(via, d.limits, d.metrics),
    ],
    // Our answer, or the origin's non-101 answer, then close.
    respond: createRespondUpgrade(via),
    record: createRecord(d, "client-socket"),
  };
}

export function tunnelPipelineSpec(d: PipelineDeps): PipelineSpec {
  return {
    name: "tunnel",
    stages: [
      // Network policies run on the CONNECT authority (the SNI presumed to be that host: 403
      // possible); resolution and the SSRF check come before the 200, so failures are still
      // proper HTTP answers.
      ...admissionStages(d),
      // 200: from here on the client speaks its own protocol (TLS).
      createEstablishTunnel(),
      // Read the ClientHello's SNI without terminating TLS.
      createPeekClientHello(d.limits),
      // Network policies again with the real SNI; a block ends the tunnel with a TLS alert.
      createPolicySni(d.contexts),
      // The location inspects: do_not_inspect policies, then decrypt and run the HTTP pipeline
      // on every request inside (the next two stages then have nothing to do).
      createInspectTls(d.contexts, d.inspector),
      // Only now touch the destination: dial the pinned address.
      createConnectDestination(d.limits, d.metrics),
      // Relay both ways with backpressure until either side closes.
      createRelayTunnel(d.limits, d.metrics),
    ],
    // An HTTP answer before the 200, a TLS alert or close after it.
    respond: createRespondTunnel(),
    record: createRecord(d, "relay"),
  };
}

/** `GET /proxy.pac` (and anything else sent in origin-form): served by the proxy itself. */
export function pacPipelineSpec(d: PipelineDeps): PipelineSpec {
  return {
    name: "pac",
    stages: [
      // The same framing checks as proxied requests, the location, the PAC file.
      createServePac(headCheckOf(d)),
    ],
    respond: createRespond(""),
    record: createRecord(d, "client-socket"),
  };
}

export const createHttpPipeline = (d: PipelineDeps): Pipeline => runner(httpPipelineSpec(d), d);
export const createUpgradePipeline = (d: PipelineDeps): Pipeline =>
  runner(upgradePipelineSpec(d), d);
export const createTunnelPipeline = (d: PipelineDeps): Pipeline => runner(tunnelPipelineSpec(d), d);
export const createPacPipeline = (d: PipelineDeps): Pipeline => runner(pacPipelineSpec(d), d);

const RESOLVED = Promise.resolve();

/** `ex.step` while the respond stage waits: after the stages, and after a failure's answer. */
const RESPONDING = -1;
const RESPONDING_AGAIN = -2;

/**
 * Run a pipeline as written down; the one runner for every proxy pipeline. It calls the stages
 * in turn while they say "next" and return at once; a stage that returns a promise is continued
 * when it settles, one that returns WAIT when the exchange is woken (its `resume` gives the
 * outcome): the stages of a plain request (forward waits for the head, respond for the body to
 * go out) wait without a promise or an async frame per stage. A woken exchange resumes in a
 * microtask, never inside the code that woke it (an origin connection still reading the rest
 * of the response the head came with).
 */
export function runner(spec: PipelineSpec, d: PipelineDeps): Pipeline {
  const { stages, respond, record } = spec;
  const n = stages.length;
  /** Exchanges woken since the last microtask ran them. */
  const woken: Exchange[] = [];
  let scheduled = false;
  const flush = (): void => {
    for (let i = 0; i < woken.length; i++) resume(woken[i] as Exchange);
    woken.length = 0;
    scheduled = false;
  };
  const resumer: Resumer = {
    resume,
    wake(ex: Exchange): void {
      woken.push(ex);
      if (!scheduled) {
        scheduled = true;
        void RESOLVED.then(flush);
      }
    },
  };

  function resume(ex: Exchange): void {
    const at = ex.step;
    if (at === RESPONDING || at === RESPONDING_AGAIN) {
      try {
        resumeStage(respond, ex);
      } catch (err) {
        respondFailed(ex, err, at === RESPONDING_AGAIN);
        return;
      }
      finish(ex);
      return;
    }
    let o: Outcome;
    try {
      o = resumeStage(stages[at] as Stage, ex);
    } catch (err) {
      failed(ex, err);
      return;
    }
    advance(ex, at + 1, o);
  }

  /** From stage `i` on, `o` being the outcome of the one before. */
  function advance(ex: Exchange, i: number, o: Outcome): void {
    try {
      while (o === "next" && i < n) {
        const r = (stages[i] as Stage).run(ex);
        if (r === WAIT) {
          ex.step = i;
          return;
        }
        i++;
        if (typeof r !== "string") {
          const from = i;
          r.then(
            (v) => advance(ex, from, v),
            (e: unknown) => failed(ex, e),
          );
          return;
        }
        o = r;
      }
    } catch (err) {
      failed(ex, err);
      return;
    }
    if (o === "drop") {
      // An HTTP/2 stream's response resets only its stream; HTTP/1.1's closes the socket.
      destroy(ex);
      finish(ex);
      return;
    }
    answer(ex, false);
  }

  /** The respond stage; `again`: the answer to a failure (if that fails too, only a close). */
  function answer(ex: Exchange, again: boolean): void {
    let r: Step;
    try {
      r = respond.run(ex);
    } catch (err) {
      respondFailed(ex, err, again);
      return;
    }
    if (r === WAIT) {
      ex.step = again ? RESPONDING_AGAIN : RESPONDING;
      return;
    }
    if (typeof r !== "string") {
      r.then(
        () => finish(ex),
        (e: unknown) => respondFailed(ex, e, again),
      );
      return;
    }
    finish(ex);
  }

  function failed(ex: Exchange, err: unknown): void {
    try {
      fail(ex, err);
    } catch {
      destroy(ex);
      finish(ex);
      return;
    }
    answer(ex, true);
  }

  function respondFailed(ex: Exchange, err: unknown, again: boolean): void {
    // Even the error answer failed (socket gone): nothing left to say to the client.
    if (again) {
      destroy(ex);
      finish(ex);
    } else failed(ex, err);
  }

  /** `record` always runs, last. */
  function finish(ex: Exchange): void {
    try {
      record.run(ex);
    } catch {
      // A record that cannot be built must not take the process down (nobody awaits the
      // run); count it and go on.
      d.metrics.error("internal");
    }
    const done = ex.onDone;
    ex.onDone = undefined;
    done?.();
  }

  function start(ex: Exchange): void {
    ex.resumer = resumer;
    advance(ex, 0, "next");
  }

  return {
    ...spec,
    start,
    run(ex: Exchange): Promise<void> {
      return new Promise<void>((resolve) => {
        ex.onDone = resolve;
        start(ex);
      });
    },
  };
}

function destroy(ex: Exchange): void {
  if (ex.res !== undefined) ex.res.destroy();
  else ex.socket.destroy();
}

/** The `resume` of a stage that gave WAIT (one without it is a bug: failed as internal). */
function resumeStage(stage: Stage, ex: Exchange): Outcome {
  if (stage.resume === undefined)
    throw new EdgeError("internal", `stage ${stage.name} waited without resume`);
  return stage.resume(ex);
}
