export { writeFileAtomic } from "./atomic-file.ts";
export { type EdgeCredential, EdgeState } from "./edge-state.ts";
export { heartbeatCounters, histogramQuantile } from "./heartbeat-counters.ts";
export { LogShipper, type LogShipperOptions } from "./log-shipper.ts";
export { SyncClient, type SyncOptions, type SyncTarget } from "./sync-client.ts";
