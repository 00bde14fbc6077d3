// @gatehouse/edge: the data plane (DNS resolver + HTTP proxy), deployable alone.
export {
  EdgeConfigError,
  loadEdgeConfigFile,
  loadEdgeLocalFile,
  parseEdgeConfig,
} from "./config-file.ts";
export { DnsService } from "./dns/dns-service.ts";
export { type DnssecProbe, probeUpstreamDnssec } from "./dns/dnssec/probe.ts";
export { parseAnchors as parseTrustAnchors } from "./dns/dnssec/records.ts";
export type { ClientInfo, DnsTransport } from "./dns/exchange.ts";
export { type Identity, IdentityIndex } from "./identify/identity-index.ts";
export { LocationMatcher } from "./identify/location-matcher.ts";
export { DomainSet, DomainSetBuilder } from "./lists/domain-set.ts";
export { buildListSet, EdgeListSet, ListError } from "./lists/list-set.ts";
export { type Edge, type EdgeAddresses, type StartEdgeOptions, startEdge } from "./main.ts";
export { releaseMemory } from "./memory-release.ts";
export { type HostPort, joinHostPort, splitHostPort } from "./net/host-port.ts";
export {
  type CompiledPolicy,
  compilePolicySet,
  type PolicyPhase,
  PolicySet,
  policySchemes,
} from "./policy/policy-set.ts";
export type { ResolveOptions, ResolveResult, Resolver } from "./resolver.ts";
export { ConfigRejectedError, compileSnapshot, type EdgeSnapshot } from "./snapshot.ts";
export {
  backoffDelay,
  DISK_BUNDLE_PROBLEMS,
  type DiskBundleProblem,
  diskBundleRejections,
  EdgeDecommissionedError,
  EdgeState,
  EndpointsReporter,
  heartbeatCounters,
  type LastGoodLoad,
  LogShipper,
  type LogShipperOptions,
  type PackedLists,
  SyncClient,
  type SyncOptions,
  type SyncTarget,
  unpackBundle,
  writeFileAtomic,
} from "./sync/index.ts";
export { registerEdgeMetrics } from "./telemetry/all-metrics.ts";
export { dnsMetrics, edgeRegistry, type MetricsServer, serveMetrics } from "./telemetry/metrics.ts";
export {
  createOpLogger,
  LOG_COMPONENTS,
  type LogComponent,
  lineSink,
  type OpLogger,
  type OpLoggerOptions,
  scrubSecrets,
  withComponent,
} from "./telemetry/op-log.ts";
export { QueryLog } from "./telemetry/query-log.ts";
export { LeafMinter } from "./tls/leaf-minter.ts";
export { setLocalOriginCas } from "./tls/origin-trust.ts";
export {
  type CertificateSummary,
  certificateCovers,
  ensureSelfSigned,
  summarizeCertificate,
} from "./tls-material.ts";
export {
  type StartWorkersOptions,
  startEdgeWorkers,
  type WorkerMode,
  type WorkersHandle,
} from "./workers.ts";
