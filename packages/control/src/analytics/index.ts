// Query-log storage and analytics for the control plane: the AnalyticsStore interface, its
// DuckDB (embedded) and ClickHouse implementations, retention, policy simulation and the
// Fastify route plugins.
export * from "./clickhouse-store.ts";
export * from "./duckdb-store.ts";
export * from "./ingest-route.ts";
export * from "./retention.ts";
export * from "./routes.ts";
export * from "./simulate.ts";
export * from "./types.ts";
