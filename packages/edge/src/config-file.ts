// Reading `gatehouse edge --config FILE.yaml`: YAML, validated against the contract's
// EdgeConfigFile schema with messages that point at the offending path. Relative list `file:`
// and upstream `caFile:` paths are made absolute against the config file's directory here, so
// the snapshot compiler never depends on the process's working directory.

import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import type { EdgeConfigFile, EdgeLocalSettings, Upstream } from "@gatehouse/contract";
import { checkEdgeConfigFileShape, checkEdgeLocalShape } from "@gatehouse/contract/edge-checks";
import { resolveLimits } from "./proxy/limits.ts";

export class EdgeConfigError extends Error {
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(`${path}: ${message}`, options);
    this.name = "EdgeConfigError";
    this.path = path;
  }
}

/** Validate a parsed config object; `origin` names it in errors; `baseDir` resolves list files. */
export function parseEdgeConfig(value: unknown, origin: string, baseDir?: string): EdgeConfigFile {
  const problems = checkEdgeConfigFileShape(value);
  if (problems.length > 0) {
    const lines = problems.map((p) => `  ${p.path}: ${p.message}`).join("\n");
    throw new EdgeConfigError(origin, `invalid edge config:\n${lines}`);
  }
  const file = value as EdgeConfigFile;
  try {
    // Relations between limits the schema cannot state (head timeout within request timeout).
    resolveLimits(file.edge?.proxy?.limits);
  } catch (e) {
    throw new EdgeConfigError(
      origin,
      `invalid edge config:\n  /edge/proxy/limits: ${(e as Error).message}`,
    );
  }
  if (baseDir === undefined) return file;
  const upstreams = (list: readonly Upstream[]): Upstream[] =>
    list.map((u) =>
      u.caFile !== undefined && !isAbsolute(u.caFile)
        ? { ...u, caFile: resolve(baseDir, u.caFile) }
        : u,
    );
  const r = file.resolver;
  return {
    ...file,
    resolver: {
      ...r,
      upstreams: upstreams(r.upstreams),
      ...(r.conditionalForwarding
        ? {
            conditionalForwarding: r.conditionalForwarding.map((cf) => ({
              ...cf,
              upstreams: upstreams(cf.upstreams),
            })),
          }
        : {}),
    },
    lists: file.lists.map((l) =>
      l.file !== undefined && !isAbsolute(l.file) ? { ...l, file: resolve(baseDir, l.file) } : l,
    ),
    ...(file.edge?.tls
      ? {
          edge: {
            ...file.edge,
            tls: {
              certFile: resolve(baseDir, file.edge.tls.certFile),
              keyFile: resolve(baseDir, file.edge.tls.keyFile),
            },
          },
        }
      : {}),
  };
}

export async function loadEdgeConfigFile(path: string): Promise<EdgeConfigFile> {
  return parseEdgeConfig(await readYamlMapping(path), path, dirname(resolve(path)));
}

/**
 * Read the local settings of an edge that follows control (`gatehouse edge --control URL
 * --local FILE.yaml`): a file with only the `edge` section of an edge config file (listeners,
 * certificates, metrics, workers, limits, proxy limits), validated the same way.
 */
export async function loadEdgeLocalFile(path: string): Promise<EdgeLocalSettings> {
  const value = await readYamlMapping(path);
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== "edge")
    throw new EdgeConfigError(
      path,
      "expected only an `edge:` section (policies, lists and resolver come from control)",
    );
  const local = (value as { edge: unknown }).edge;
  const found = checkEdgeLocalShape(local);
  if (found.length > 0)
    throw new EdgeConfigError(
      path,
      `invalid edge settings:\n${found.map((p) => `  ${p.path}: ${p.message}`).join("\n")}`,
    );
  const settings = local as EdgeLocalSettings;
  try {
    resolveLimits(settings.proxy?.limits);
  } catch (e) {
    throw new EdgeConfigError(
      path,
      `invalid edge settings:\n  /edge/proxy/limits: ${(e as Error).message}`,
    );
  }
  const baseDir = dirname(resolve(path));
  return settings.tls
    ? {
        ...settings,
        tls: {
          certFile: resolve(baseDir, settings.tls.certFile),
          keyFile: resolve(baseDir, settings.tls.keyFile),
        },
      }
    : settings;
}

async function readYamlMapping(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new EdgeConfigError(path, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  // yaml loads with the first file read: a synced edge never reads one.
  const { parse } = await import("yaml");
  let value: unknown;
  try {
    value = parse(text, { prettyErrors: true });
  } catch (e) {
    throw new EdgeConfigError(path, `not valid YAML: ${(e as Error).message}`, { cause: e });
  }
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new EdgeConfigError(path, "expected a mapping at the top level");
  return value as Record<string, unknown>;
}
