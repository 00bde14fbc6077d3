// What an enrolled edge keeps in its data directory: its credential (from enrolment) and the
// last bundle it applied (fail-static: an edge restarted while control is down serves from it).

import { join } from "node:path";
import { type ConfigBundle, checkBundleShape } from "@gatehouse/contract";
import { readIfExists, writeFileAtomic } from "./atomic-file.ts";

export interface EdgeCredential {
  readonly controlUrl: string;
  readonly edgeId: string;
  readonly accountId: string;
  readonly credential: string;
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

  /** The last good bundle, or undefined when there is none or it does not parse. */
  async loadLastGood(): Promise<ConfigBundle | undefined> {
    const text = await readIfExists(this.lastGoodPath);
    if (text === undefined) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return undefined;
    }
    return checkBundleShape(value).length === 0 ? (value as ConfigBundle) : undefined;
  }

  saveLastGood(bundle: ConfigBundle): Promise<void> {
    return writeFileAtomic(this.lastGoodPath, JSON.stringify(bundle), 0o600);
  }
}
