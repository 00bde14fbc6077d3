// Batch ids come from edges in the X-Batch-Id header; they are stored, so keep them short and
// printable.

import { AnalyticsInputError } from "./types.ts";

const BATCH_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

export function checkBatchId(batchId: string): void {
  if (typeof batchId !== "string" || !BATCH_ID.test(batchId)) {
    throw new AnalyticsInputError("batch id must be 1-128 characters of A-Z a-z 0-9 _ . : -");
  }
}

/** The stored dedup key: batch ids are unique per account (one account cannot shadow another's). */
export function batchKey(accountId: string, batchId: string): string {
  return `${accountId}/${batchId}`;
}
