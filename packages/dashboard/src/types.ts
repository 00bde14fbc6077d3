// The API objects the dashboard shows: the types of the very schemas control's routes answer
// with (contract/src/api.ts, also in /api/v1/openapi.json), so a change to an answer is a type
// error here. Type imports only: nothing of the contract is bundled.

import type {
  BulkItemsResult as ApiBulkItemsResult,
  BundleDiff as ApiBundleDiff,
  BundleSummary as ApiBundleSummary,
  ClientNameView as ApiClientNameView,
  ClientView as ApiClientView,
  ConfigVersion as ApiConfigVersion,
  DashboardUserCreated as ApiDashboardUserCreated,
  DashboardUserView as ApiDashboardUserView,
  ImportReportView as ApiImportReport,
  ListUsers as ApiListUsers,
  Page as ApiPage,
  PauseState as ApiPauseState,
  PublishPreview as ApiPublishPreview,
  PublishResult as ApiPublishResult,
  QuickRuleResult as ApiQuickRuleResult,
  RollbackResult as ApiRollbackResult,
  RolloutPlan as ApiRolloutPlan,
  RolloutView as ApiRolloutView,
  SearchResult as ApiSearchResult,
  SessionView as ApiSessionView,
  Stamped as ApiStamped,
  SubscriptionRefresh as ApiSubscriptionRefresh,
  SubscriptionView as ApiSubscriptionView,
  TimeseriesResult as ApiTimeseriesResult,
  TopResult as ApiTopResult,
  Whoami as ApiWhoami,
  POLICY_ACTIONS as CONTRACT_POLICY_ACTIONS,
  EdgeVersionsView,
  EdgeView,
  ListView,
  LocalZoneView,
  LocationView,
  LogAction,
  PolicyView,
} from "@gatehouse/contract";

export type PolicyType = PolicyView["type"];

/** The actions each policy type accepts (checked against the contract's POLICY_ACTIONS). */
export const POLICY_ACTIONS = {
  dns: ["allow", "block", "override", "safesearch", "ytrestricted"],
  http: ["allow", "block", "do_not_inspect"],
  net: ["allow", "block"],
} as const satisfies typeof CONTRACT_POLICY_ACTIONS;

export type Stamped = ApiStamped;

export type Policy = PolicyView;
export type Location = LocationView;
export type LocalZone = LocalZoneView;
export type ListType = ListView["type"];

/** Every list type, as the create form offers them. */
export const LIST_TYPE_LABELS: Readonly<Record<ListType, string>> = {
  domain: "domain names (and their subdomains)",
  ip: "IP addresses and networks",
  string: "strings",
  int: "integers (ports)",
};

export type List = ListView;

export type Edge = EdgeView;
export type EdgeVersions = EdgeVersionsView;
export type RolloutPlan = ApiRolloutPlan;
export type Rollout = ApiRolloutView;

export type Page<T> = ApiPage<T>;

export type Whoami = ApiWhoami;
/** Who is signed in: a dashboard user (session cookie) or an API token. */
export type SessionView = ApiSessionView;
export type DashboardUser = ApiDashboardUserView;
/** A name given to a client by its IP address. */
export type ClientName = ApiClientNameView;
/** One client's page: location, settings, pause, policies, activity. */
export type ClientView = ApiClientView;
export type DashboardUserCreated = ApiDashboardUserCreated;

export type BundleSummary = ApiBundleSummary;
export type ConfigVersion = ApiConfigVersion;
export type PublishResult = ApiPublishResult;
export type PublishPreview = ApiPublishPreview;
export type RollbackResult = ApiRollbackResult;
export type DiffSection = ApiBundleDiff["policies"];
export type BundleDiff = ApiBundleDiff;

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

export type LogRecord = ApiSearchResult["records"][number];

export type SearchResult = ApiSearchResult;
export type TimeseriesResult = ApiTimeseriesResult;
export type TopResult = ApiTopResult;

export type QuickRuleResult = ApiQuickRuleResult;
export type PauseState = ApiPauseState;
export type ListUsers = ApiListUsers;
export type Subscription = ApiSubscriptionView;
export type SubscriptionRefresh = ApiSubscriptionRefresh;

/** The line formats list uploads and subscriptions take (control parses them). */
export const ITEM_FORMAT_LABELS: Readonly<Record<string, string>> = {
  auto: "detect (hosts file, adblock or plain)",
  hosts: "hosts file (0.0.0.0 name)",
  adblock: "adblock (||name^)",
  plain: "one item a line",
};
export type BulkItemsResult = ApiBulkItemsResult;
export type ImportReport = ApiImportReport;

/** What an inspected origin whose certificate does not verify gets (settings, HTTP allow policies). */
export const UNTRUSTED_ORIGIN_OPTIONS = [
  ["block", "block with a page that says why"],
  ["pass_through", "pass through, uninspected"],
  ["inspect", "inspect anyway (verdict logged)"],
] as const;
