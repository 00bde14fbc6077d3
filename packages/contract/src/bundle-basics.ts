// What code needs of the config bundle's definition besides its TypeBox schemas (config-bundle.ts
// builds the schemas from these and re-exports them): the schema version, the policy actions,
// the list kinds and a list's bounds, and the step from an edge's config file to a bundle.
// Free of TypeBox, so an edge holds none of the schemas (edge-checks.ts).

import type { ConfigBundle, EdgeConfigFile } from "./config-bundle.ts";

export const BUNDLE_SCHEMA_VERSION = 1;

export const POLICY_ACTIONS = {
  dns: ["allow", "block", "override", "safesearch", "ytrestricted"],
  http: ["allow", "block", "do_not_inspect"],
  net: ["allow", "block"],
} as const;

export const LIST_TYPES = ["domain", "ip", "string", "int"] as const;
export type ListKind = (typeof LIST_TYPES)[number];

/** The most inline items a list holds. */
export const LIST_MAX_ITEMS = 5_000_000;
/** The longest string an inline list item is (an item is such a string or an integer). */
export const LIST_ITEM_MAX_LENGTH = 1024;

/** The bundle part of an edge config file (schemaVersion and version default to 1 and 0). */
export function bundleOfEdgeConfig(file: EdgeConfigFile): ConfigBundle {
  const { edge: _edge, ...rest } = file;
  return { ...rest, schemaVersion: BUNDLE_SCHEMA_VERSION, version: file.version ?? 0 };
}
