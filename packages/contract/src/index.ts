// @gatehouse/contract: what crosses a process boundary. Browser-safe; Node-only helpers are
// under "@gatehouse/contract/secrets".
export * from "./addresses.ts";
export * from "./api.ts";
export * from "./bundle-hash.ts";
export * from "./config-bundle.ts";
export * from "./do-not-inspect.ts";
export * from "./domain-rules.ts";
export * from "./edge-config.ts";
export * from "./edge-version.ts";
export * from "./errors.ts";
export * from "./query-log.ts";
export * from "./schedule.ts";
export * from "./schemes.ts";
export * from "./shadowing.ts";
export * from "./trust-anchors.ts";
export * from "./validate.ts";
export * from "./zone-file.ts";
