export { writeFileAtomic } from "./atomic-file.ts";
export { type PackedLists, unpackBundle } from "./bundle-parse.ts";
export {
  DISK_BUNDLE_PROBLEMS,
  type DiskBundleProblem,
  diskBundleRejections,
  type EdgeCredential,
  type EdgeDecommissioned,
  EdgeDecommissionedError,
  EdgeState,
  type LastGoodLoad,
} from "./edge-state.ts";
export { EndpointsReporter, MAX_REPORTED_ADDRESSES } from "./endpoints.ts";
export { heartbeatCounters, histogramQuantile } from "./heartbeat-counters.ts";
export { LogShipper, type LogShipperOptions } from "./log-shipper.ts";
export { backoffDelay, SyncClient, type SyncOptions, type SyncTarget } from "./sync-client.ts";
