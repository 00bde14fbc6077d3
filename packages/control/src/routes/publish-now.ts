// Changes that must reach the edges at once (Block/Allow from the query log, pausing blocking)
// publish right after their transaction instead of waiting for the auto-publish debounce.

import { GatehouseError } from "@gatehouse/contract";
import type { Publisher } from "../bundle/publisher.ts";

export interface Published {
  /** The version published (or already current); null when the configuration does not compile. */
  readonly publishedVersion: number | null;
  readonly publishError?: string;
}

/** Publish the account now; a configuration that does not compile is reported, not thrown. */
export async function publishNow(
  publisher: Publisher,
  accountId: string,
  actor: string,
): Promise<Published> {
  try {
    return { publishedVersion: (await publisher.publish(accountId, actor)).version };
  } catch (err) {
    if (err instanceof GatehouseError && err.code === "GH_ERR_CONFIG_REJECTED")
      return { publishedVersion: null, publishError: err.message };
    throw err;
  }
}
