// The proxy's pipelines, each written down once: plain HTTP, the CONNECT tunnel, the upgrade
// (WebSocket) and PAC serving. Every stage lives in `stages/`, one file each, named for what it
// does; a pipeline is the stages that decide and carry out the exchange, the stage that writes
// its answer, and `record`. Each stage is built by its factory at startup (all parsing and
// allocation there) and only reads config per request. A stage returns an outcome: "next",
// "respond" (an answer such as 403 or 407 is on the exchange: skip to the pipeline's respond
// stage) or "drop" (close without an answer). Exceptions are failures: `fail` turns them into
// an answer, which the respond stage writes. `record` always runs, last: it publishes the exchange's event, which the
// query log, the operational log and the metrics subscribe to (index.ts).

import type { AddressGuard } from "./address-guard.ts";
import type { AuthFailureLimiter } from "./auth-limiter.ts";
import type { ProxyResolver } from "./edge-view.ts";
import type { Exchange, Outcome, Stage } from "./exchange.ts";
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
  run(ex: Exchange): Promise<void>;
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

/** Run a pipeline as written down; the one runner for every proxy pipeline. */
export function runner(spec: PipelineSpec, d: PipelineDeps): Pipeline {
  const { stages, respond, record } = spec;
  return {
    ...spec,
    async run(ex: Exchange): Promise<void> {
      try {
        try {
          let o: Outcome | Promise<Outcome> = "next";
          for (let i = 0; i < stages.length; i++) {
            o = (stages[i] as Stage).run(ex);
            if (typeof o !== "string") o = await o;
            if (o !== "next") break;
          }
          // An HTTP/2 stream's response resets only its stream; HTTP/1.1's closes the socket.
          if (o === "drop") {
            if (ex.res !== undefined) ex.res.destroy();
            else ex.socket.destroy();
          } else await respond.run(ex);
        } catch (err) {
          fail(ex, err);
          await respond.run(ex);
        }
      } catch {
        // Even the error answer failed (socket gone): nothing left to say to the client.
        if (ex.res !== undefined) ex.res.destroy();
        else ex.socket.destroy();
      } finally {
        try {
          record.run(ex);
        } catch {
          // A record that cannot be built must not take the process down (run() is not
          // awaited by anyone); count it and go on.
          d.metrics.error("internal");
        }
      }
    },
  };
}
