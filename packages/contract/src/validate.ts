// Structural validation (JSON Schema) and semantic validation (every expression compiles against
// its scheme, every `$list` exists with the right type, precedence unique per type) of a config
// bundle. Control runs it before publishing, the edge before applying: a bundle that fails here
// is refused whole and the previous one keeps serving. The semantic checks are in
// bundle-rules.ts; an edge takes both through edge-checks.ts, which leaves TypeBox out until a
// value fails.

import { TypeCompiler } from "@sinclair/typebox/compiler";
import { type BundleProblem, checkBundleRules } from "./bundle-rules.ts";
import { ConfigBundle, List } from "./config-bundle.ts";

export {
  type BundleProblem,
  checkExpression,
  checkPolicySettings,
  gatewaySchemes,
  isIpOrCidr,
  LIST_RULE_TYPE,
} from "./bundle-rules.ts";

const bundleChecker = TypeCompiler.Compile(ConfigBundle);
const listItemChecker = TypeCompiler.Compile(List.properties.items.items);

/** Why one list item does not fit the bundle's item schema; undefined when it does. */
export function listItemProblem(item: unknown): string | undefined {
  if (listItemChecker.Check(item)) return undefined;
  return listItemChecker.Errors(item).First()?.message ?? "invalid list item";
}

/** Structural check only (cheap); returns at most `max` problems. */
export function checkBundleShape(value: unknown, max = 20): BundleProblem[] {
  if (bundleChecker.Check(value)) return [];
  const out: BundleProblem[] = [];
  for (const e of bundleChecker.Errors(value)) {
    out.push({ path: e.path || "/", message: e.message });
    if (out.length >= max) break;
  }
  return out;
}

/**
 * Full check: shape, then every policy's expression, action and list references. Adblock
 * exception lists (`<name>.allow`) count as declared when `<name>` is a domain list.
 */
export function checkBundle(value: unknown): BundleProblem[] {
  const shape = checkBundleShape(value);
  if (shape.length > 0) return shape;
  return checkBundleRules(value as ConfigBundle);
}
