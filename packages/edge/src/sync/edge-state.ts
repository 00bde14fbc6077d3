// What an enrolled edge keeps in its data directory: its credential (from enrolment) and the
// last bundle it applied (fail-static: an edge restarted while control is down serves from it),
// plus the one applied before that, so one damaged file does not leave the edge with nothing.
//
// A bundle on disk is served only if it parses, has a bundle's shape and its sha256 `hash`
// (control's, checked when it arrived) matches its content: a truncated file and a hand-edited
// one are both refused, said in an error-level log line and counted
// (gatehouse_edge_config_disk_rejected_total{reason}), and the file is moved aside
// (`<name>.rejected`) for inspection; the previous good bundle serves instead. The hash is not a
// signature: whoever can write the data directory can also write a matching hash (and could
// replace a public key kept there), so the directory's permissions (0700, files 0600) are what
// keep local users out; the hash catches damage and edits by hand.
//
// Once control decommissioned the edge, a marker (`decommissioned.json`) keeps a restarted edge
// from serving.

import { type FileHandle, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import type { ConfigBundle } from "@gatehouse/contract";
import { checkBundleShape } from "@gatehouse/contract/edge-checks";
import { Counter, type Registry } from "../telemetry/prom-client.ts";
import { registryMetric } from "../telemetry/registry-metric.ts";
import { readIfExists, syncDir, writeFileAtomic, writeFileAtomicWith } from "./atomic-file.ts";
import { streamCanonicalJson } from "./bundle-digest.ts";
import { unpackBundle } from "./bundle-parse.ts";
import { type ParsedBundleFile, type ParseFileOptions, parseBundleFile } from "./bundle-stream.ts";

/** Why a bundle file on disk was not served (the `reason` label). */
export const DISK_BUNDLE_PROBLEMS = [
  "unreadable",
  "not_json",
  "not_a_bundle",
  "hash_mismatch",
] as const;
type DiskBundleProblemReason = (typeof DISK_BUNDLE_PROBLEMS)[number];

export interface DiskBundleProblem {
  readonly path: string;
  readonly reason: DiskBundleProblemReason;
  readonly message: string;
  /** Where the file was moved (undefined when it could not be moved). */
  readonly movedTo?: string;
}

export interface LastGoodLoad {
  /** The newest bundle on disk that passed every check, if any. */
  readonly bundle?: ConfigBundle;
  /** The file it came from. */
  readonly path?: string;
  /** Every file that was refused, newest first. */
  readonly problems: readonly DiskBundleProblem[];
}

/** gatehouse_edge_config_disk_rejected_total: every reason's series exists from the start. */
export function diskBundleRejections(registry: Registry): Counter<"reason"> {
  const name = "gatehouse_edge_config_disk_rejected_total";
  return registryMetric(registry, name, () => {
    const c = new Counter({
      name,
      help: "Config bundle files in the data directory refused at start-up (unreadable, not JSON, not a bundle, hash mismatch)",
      labelNames: ["reason"] as const,
      registers: [registry],
    });
    for (const reason of DISK_BUNDLE_PROBLEMS) c.inc({ reason }, 0);
    return c;
  });
}

export interface EdgeCredential {
  readonly controlUrl: string;
  readonly edgeId: string;
  readonly accountId: string;
  readonly credential: string;
}

export interface EdgeDecommissioned {
  readonly edgeId: string;
  /** When control answered GH_ERR_EDGE_DECOMMISSIONED (RFC 3339). */
  readonly at: string;
  readonly message: string;
}

/** Start refused: control decommissioned this edge (see EdgeState.decommissionedError). */
export class EdgeDecommissionedError extends Error {
  override name = "EdgeDecommissionedError";
}

export class EdgeState {
  readonly #dir: string;
  constructor(dataDir: string) {
    this.#dir = dataDir;
  }

  get credentialPath(): string {
    return join(this.#dir, "credential.json");
  }
  get lastGoodPath(): string {
    return join(this.#dir, "last-good-bundle.json");
  }
  /** The good bundle applied before the last one. */
  get previousGoodPath(): string {
    return join(this.#dir, "previous-good-bundle.json");
  }

  async loadCredential(): Promise<EdgeCredential | undefined> {
    const text = await readIfExists(this.credentialPath);
    if (text === undefined) return undefined;
    let c: Partial<EdgeCredential>;
    try {
      c = JSON.parse(text) as Partial<EdgeCredential>;
    } catch {
      throw new Error(
        `${this.credentialPath} is not valid JSON: remove it and enrol again with --join-token`,
      );
    }
    if (
      typeof c.credential !== "string" ||
      typeof c.edgeId !== "string" ||
      typeof c.controlUrl !== "string"
    )
      throw new Error(
        `${this.credentialPath} is not an edge credential file: remove it and enrol again with --join-token`,
      );
    return c as EdgeCredential;
  }

  saveCredential(c: EdgeCredential): Promise<void> {
    return writeFileAtomic(this.credentialPath, `${JSON.stringify(c, null, 2)}\n`, 0o600);
  }

  get decommissionedPath(): string {
    return join(this.#dir, "decommissioned.json");
  }

  /** Control's word that this edge is decommissioned, kept so a restart does not serve again. */
  saveDecommissioned(d: EdgeDecommissioned): Promise<void> {
    return writeFileAtomic(this.decommissionedPath, `${JSON.stringify(d, null, 2)}\n`, 0o600);
  }

  /** Why start refuses: the edge was decommissioned (undefined when it was not). */
  async decommissionedError(): Promise<EdgeDecommissionedError | undefined> {
    const text = await readIfExists(this.decommissionedPath);
    if (text === undefined) return undefined;
    let d: Partial<EdgeDecommissioned> = {};
    try {
      d = JSON.parse(text) as Partial<EdgeDecommissioned>;
    } catch {
      // Unreadable is still a marker: refusing to serve is the safe reading.
    }
    return new EdgeDecommissionedError(
      `this edge was decommissioned by control${typeof d.at === "string" ? ` at ${d.at}` : ""}` +
        `${typeof d.edgeId === "string" ? ` (edge ${d.edgeId})` : ""} and does not serve: to bring it back, ` +
        `remove ${this.credentialPath} and ${this.decommissionedPath} and enrol again with a new --join-token`,
    );
  }

  /** The last good bundle that passes every check, or undefined (see loadLastGoodChecked). */
  async loadLastGood(): Promise<ConfigBundle | undefined> {
    return (await this.loadLastGoodChecked()).bundle;
  }

  /**
   * The last good bundle, else the previous one, each served only if it parses, has a bundle's
   * shape and matches its hash. A refused file is moved aside (`.rejected`), so the next save
   * does not keep it as the previous bundle, and reported in `problems` for the caller to log.
   */
  async loadLastGoodChecked(): Promise<LastGoodLoad> {
    const { parsed, path, problems } = await this.loadLastGoodParsed();
    return parsed ? { bundle: await unpackBundle(parsed), path, problems } : { problems };
  }

  /**
   * loadLastGoodChecked with the domain lists' items left packed (bundle-stream.ts: a canonical
   * file is read in two streaming passes, never whole): start an edge from `bundle` with
   * `packed`, and no string per name is ever made.
   */
  async loadLastGoodParsed(
    opts: ParseFileOptions = {},
  ): Promise<{ parsed?: ParsedBundleFile; path?: string; problems: DiskBundleProblem[] }> {
    const problems: DiskBundleProblem[] = [];
    for (const path of [this.lastGoodPath, this.previousGoodPath]) {
      const checked = await checkBundleFile(path, opts);
      if (checked === undefined) continue;
      if ("parsed" in checked) return { parsed: checked.parsed, path, problems };
      const movedTo = `${path}.rejected`;
      const moved = await rename(path, movedTo).then(
        () => true,
        () => false,
      );
      problems.push({ path, ...checked, ...(moved ? { movedTo } : {}) });
    }
    return { problems };
  }

  /** Write `bundle` as the last good one; the one it replaces becomes the previous good one. */
  async saveLastGood(bundle: ConfigBundle): Promise<void> {
    // Written as canonical JSON in chunks, in slices: a large bundle neither stalls answering
    // nor exists as one string.
    await this.#replaceLastGood((fh) =>
      streamCanonicalJson(bundle, async (chunk) => {
        await fh.write(chunk, null, "utf8");
      }),
    );
  }

  /**
   * saveLastGood with the bundle's JSON as received from control (its hash checked): the bytes
   * are written as they are, in one write that does not touch the event loop.
   */
  async saveLastGoodBody(body: Uint8Array): Promise<void> {
    await this.#replaceLastGood((fh) => fh.writeFile(body));
  }

  /**
   * Where the sync client writes a body as it arrives (sync-client.ts), until it is applied
   * (adoptLastGood) or refused (removed).
   */
  get incomingPath(): string {
    return join(this.#dir, "incoming-bundle.json");
  }

  /**
   * saveLastGood with a file already written and synced (the body as received, hash checked):
   * renamed into place, so its bytes are neither read nor copied.
   */
  async adoptLastGood(file: string): Promise<void> {
    await this.#rotate();
    await rename(file, this.lastGoodPath);
    await syncDir(this.#dir);
  }

  async #rotate(): Promise<void> {
    try {
      await rename(this.lastGoodPath, this.previousGoodPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }

  async #replaceLastGood(write: (fh: FileHandle) => Promise<void>): Promise<void> {
    await this.#rotate();
    // A crash between the rename and this write leaves the previous file, which start-up uses.
    await writeFileAtomicWith(this.lastGoodPath, write, 0o600);
  }
}

/** undefined: no such file; else the bundle, or why it cannot be served. */
async function checkBundleFile(
  path: string,
  opts: ParseFileOptions,
): Promise<
  { parsed: ParsedBundleFile } | { reason: DiskBundleProblemReason; message: string } | undefined
> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return { reason: "unreadable", message: (e as Error).message };
  }
  let parsed: ParsedBundleFile;
  try {
    parsed = await parseBundleFile(path, opts);
  } catch (e) {
    if (e instanceof SyntaxError)
      return { reason: "not_json", message: `${e.message} (${size} bytes)` };
    return { reason: "unreadable", message: (e as Error).message };
  }
  const shape = checkBundleShape(parsed.bundle);
  if (shape.length > 0)
    return {
      reason: "not_a_bundle",
      message: shape
        .slice(0, 3)
        .map((p) => `${p.path}: ${p.message}`)
        .join("; "),
    };
  if (!parsed.hashOk)
    return {
      reason: "hash_mismatch",
      message:
        parsed.bundle.hash === undefined
          ? "it carries no hash"
          : "its content does not match its hash (edited or damaged since control published it)",
    };
  return { parsed };
}
