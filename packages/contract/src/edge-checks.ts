// The checks an edge runs on what it applies (a bundle, its list items, its own config file),
// without TypeBox: the shapes from the generated shape-checks.ts (TypeBox's compiled checks of
// the schemas, as plain functions), the rest from bundle-rules.ts. Only a value that fails loads
// TypeBox and the schemas (validate.ts, edge-config.ts) to say why, so an edge whose config is
// valid never holds them (about 5 MB of RSS: docs/benchmarks.md, "Idle edge: what loads at
// start"). Node only (the errors load synchronously through require); the problems are those
// validate.ts and edge-config.ts give.

import { createRequire } from "node:module";
import { type BundleProblem, checkBundleRules } from "./bundle-rules.ts";
import type { ConfigBundle } from "./config-bundle.ts";
import {
  isConfigBundle,
  isEdgeConfigFile,
  isEdgeLocalSettings,
  isListItem,
} from "./shape-checks.ts";

export {
  BUNDLE_SCHEMA_VERSION,
  bundleOfEdgeConfig,
  LIST_ITEM_MAX_LENGTH,
  LIST_MAX_ITEMS,
} from "./bundle-basics.ts";
export { type BundleProblem, gatewaySchemes } from "./bundle-rules.ts";

const load = createRequire(import.meta.url);

/** The TypeBox checks, loaded by the first value that fails a shape. */
function why(): typeof import("./validate.ts") & typeof import("./edge-config.ts") {
  return { ...load("./validate.ts"), ...load("./edge-config.ts") };
}

/** Structural check only; returns at most `max` problems (validate.ts checkBundleShape). */
export function checkBundleShape(value: unknown, max = 20): BundleProblem[] {
  return isConfigBundle(value) ? [] : why().checkBundleShape(value, max);
}

/** Shape, then everything else a bundle must hold (validate.ts checkBundle). */
export function checkBundle(value: unknown): BundleProblem[] {
  const shape = checkBundleShape(value);
  return shape.length > 0 ? shape : checkBundleRules(value as ConfigBundle);
}

/** Why one list item does not fit the bundle's item schema; undefined when it does. */
export function listItemProblem(item: unknown): string | undefined {
  return isListItem(item) ? undefined : why().listItemProblem(item);
}

/** Structural check of an edge config file (edge-config.ts checkEdgeConfigFileShape). */
export function checkEdgeConfigFileShape(value: unknown, max = 20): BundleProblem[] {
  return isEdgeConfigFile(value) ? [] : why().checkEdgeConfigFileShape(value, max);
}

/** Structural check of an edge config file's `edge` section (edge-config.ts checkEdgeLocalShape). */
export function checkEdgeLocalShape(value: unknown, max = 20): BundleProblem[] {
  return isEdgeLocalSettings(value) ? [] : why().checkEdgeLocalShape(value, max);
}
