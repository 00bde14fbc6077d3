// The API objects the dashboard shows, as control's routes return them (see
// /api/v1/openapi.json): the contract's types where the API returns them as they are (type
// imports only: nothing of the contract is bundled), plus the API's own views.

import type {
  POLICY_ACTIONS as CONTRACT_POLICY_ACTIONS,
  List as ContractList,
  Location as ContractLocation,
  Policy as ContractPolicy,
  LogAction,
  QueryLogRecord,
} from "@gatehouse/contract";

export type PolicyType = ContractPolicy["type"];

/** The actions each policy type accepts (checked against the contract's POLICY_ACTIONS). */
export const POLICY_ACTIONS = {
  dns: ["allow", "block", "override", "safesearch", "ytrestricted"],
  http: ["allow", "block", "do_not_inspect"],
  net: ["allow", "block"],
} as const satisfies typeof CONTRACT_POLICY_ACTIONS;

export interface Stamped {
  version: number;
  createdAt: string;
  updatedAt: string;
}

export type Policy = ContractPolicy & Stamped;
export type Location = ContractLocation & Stamped;
export type ListType = ContractList["type"];

/** Every list type, as the create form offers them. */
export const LIST_TYPE_LABELS: Readonly<Record<ListType, string>> = {
  domain: "domain names (and their subdomains)",
  ip: "IP addresses and networks",
  string: "strings",
  int: "integers (ports)",
};

export interface List extends Omit<ContractList, "items">, Stamped {
  itemCount: number;
}

export interface Edge {
  id: string;
  name: string;
  status: "active" | "draining" | "decommissioned";
  softwareVersion: string | null;
  configVersion: number | null;
  uptimeSeconds: number | null;
  configStatus: { version?: number; ok?: boolean; error?: { message: string } } | null;
  /** The version the edge is held at (staged rollout); null: it follows the latest. */
  pinnedVersion: number | null;
  lastSeenAt: string | null;
  stale: boolean;
  enrolledAt: string | null;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Whoami {
  tokenId: string;
  accountId: string;
  role: "viewer" | "editor" | "admin";
  expiresAt: string | null;
}

export interface BundleSummary {
  policies: number;
  lists: number;
  listItems: number;
  locations: number;
  users: number;
  devices: number;
}

export interface ConfigVersion {
  version: number;
  hash: string;
  createdAt: string;
  createdBy: string | null;
  summary: BundleSummary | null;
}

export interface PublishResult {
  version: number;
  hash: string;
  createdAt: string;
  changed: boolean;
  summary: BundleSummary;
}

export interface RollbackResult extends PublishResult {
  /** The version whose content is current again. */
  rolledBackTo: number;
}

export interface DiffSection {
  added: string[];
  removed: string[];
  changed: string[];
}

export interface BundleDiff {
  from: number;
  to: number;
  policies: DiffSection;
  lists: DiffSection & { items: { id: string; name: string; added: number; removed: number }[] };
  locations: DiffSection;
  [other: string]: unknown;
}

/** Every query-log action with the word the log shows for it. */
export const ACTION_LABELS: Readonly<Record<LogAction, string>> = {
  allow: "allowed",
  block: "blocked",
  override: "overridden",
  safesearch: "SafeSearch",
  ytrestricted: "YouTube restricted",
  do_not_inspect: "not inspected",
  refused: "refused",
  ratelimited: "rate-limited",
  error: "error",
};

export type LogRecord = QueryLogRecord;

export interface SearchResult {
  records: LogRecord[];
  nextCursor?: string;
}

export interface TimeseriesResult {
  bucket: "minute" | "hour" | "day";
  by: string;
  points: { t: number; key: string | null; count: number }[];
}

export interface TopResult {
  dimension: string;
  entries: { key: string; count: number; label?: string }[];
}
