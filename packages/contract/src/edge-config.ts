// The edge's own config file (`gatehouse edge --config FILE.yaml`): a bundle plus an `edge`
// section. Validated structurally here, then turned into a ConfigBundle for the edge to compile.

import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { BundleProblem } from "./bundle-rules.ts";
import { EdgeConfigFile, EdgeLocalSettings } from "./config-bundle.ts";

export { bundleOfEdgeConfig } from "./bundle-basics.ts";

const edgeFileChecker = TypeCompiler.Compile(EdgeConfigFile);
const edgeLocalChecker = TypeCompiler.Compile(EdgeLocalSettings);

function problems(
  checker: typeof edgeFileChecker | typeof edgeLocalChecker,
  value: unknown,
  max: number,
  prefix = "",
): BundleProblem[] {
  if (checker.Check(value)) return [];
  const out: BundleProblem[] = [];
  for (const e of checker.Errors(value)) {
    out.push({ path: `${prefix}${e.path}` || "/", message: e.message });
    if (out.length >= max) break;
  }
  return out;
}

/** Structural check of an edge config file; returns at most `max` problems. */
export function checkEdgeConfigFileShape(value: unknown, max = 20): BundleProblem[] {
  return problems(edgeFileChecker, value, max);
}

/**
 * Structural check of an edge config file's `edge` section alone (what an edge following
 * control reads with `--local FILE`); paths are reported under `/edge`.
 */
export function checkEdgeLocalShape(value: unknown, max = 20): BundleProblem[] {
  return problems(edgeLocalChecker, value, max, "/edge");
}
