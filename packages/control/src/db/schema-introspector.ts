// Kysely's Postgres introspector lists the tables of every schema (casting each name to
// regnamespace), so a schema dropped concurrently — another tenant's or test run's — makes it
// fail with "schema does not exist". The migrator only asks "does this table exist in my
// schema?", so this introspector answers from the current schema alone.

import {
  type DatabaseIntrospector,
  type DatabaseMetadata,
  type Kysely,
  type SchemaMetadata,
  sql,
  type TableMetadata,
} from "kysely";

export class CurrentSchemaIntrospector implements DatabaseIntrospector {
  readonly #db: Kysely<unknown>;
  constructor(db: Kysely<unknown>) {
    this.#db = db;
  }
  async getSchemas(): Promise<SchemaMetadata[]> {
    const r = await sql<{
      name: string;
    }>`select nspname as name from pg_catalog.pg_namespace`.execute(this.#db);
    return r.rows.map((x) => ({ name: x.name }));
  }
  async getTables(): Promise<TableMetadata[]> {
    const r = await sql<{ name: string; schema: string; type: string }>`
      select table_name as name, table_schema as schema, table_type as type
      from information_schema.tables where table_schema = current_schema()`.execute(this.#db);
    return r.rows.map((x) => ({
      name: x.name,
      schema: x.schema,
      isView: x.type === "VIEW",
      columns: [],
    }));
  }
  async getMetadata(): Promise<DatabaseMetadata> {
    return { tables: await this.getTables() };
  }
}
