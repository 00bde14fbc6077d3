// @gatehouse/control: the control plane. `buildApp` for tests (app.inject) and embedding;
// `startControl` to listen.

export {
  type AnalyticsStore,
  ClickHouseStore,
  DuckDbStore,
  isMemorySize,
  scheduleRetention,
} from "./analytics/index.ts";
export { type AppOptions, buildApp, type ControlState, type RouteEntry } from "./app.ts";
export { generatePassword, setDashboardPassword } from "./bootstrap.ts";
export { formatPlan } from "./bundle/config-plan.ts";
export type {
  ServingEndpoints,
  ServingEndpointsSource,
} from "./connect/connect-info.ts";
export { MIGRATIONS, migrateToLatest } from "./db/migrations.ts";
export { openStore, type Store, type StoreOptions } from "./db/open-store.ts";
export { parseTrustedProxies } from "./http/trusted-proxies.ts";
export {
  type ApiCall,
  applyPlan,
  formatReport,
  IMPORT_PRODUCTS,
  ImportInputError,
  type ImportPlan,
  type ImportProduct,
  type ImportReport,
  MAX_IMPORT_BYTES,
  planImport,
} from "./import/index.ts";
export { ControlMetrics } from "./metrics.ts";
export { type StartedControl, type StartOptions, startControl } from "./start.ts";
