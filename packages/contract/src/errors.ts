// The error catalogue: one stable code per failure, with who caused it (source), whether
// retrying can help, and the HTTP status the API answers with. Codes never change meaning.

export type ErrorSource = "client" | "upstream" | "internal" | "config";

export interface ErrorCodeInfo {
  readonly status: number;
  readonly source: ErrorSource;
  readonly retryable: boolean;
  readonly summary: string;
}

export const ERROR_CODES = {
  GH_ERR_BAD_REQUEST: {
    status: 400,
    source: "client",
    retryable: false,
    summary: "malformed request",
  },
  GH_ERR_UNAUTHENTICATED: {
    status: 401,
    source: "client",
    retryable: false,
    summary: "missing or invalid credentials",
  },
  GH_ERR_FORBIDDEN: {
    status: 403,
    source: "client",
    retryable: false,
    summary: "the role may not do this",
  },
  GH_ERR_NOT_FOUND: {
    status: 404,
    source: "client",
    retryable: false,
    summary: "no such resource",
  },
  GH_ERR_CONFLICT: {
    status: 409,
    source: "client",
    retryable: false,
    summary: "conflicts with existing state",
  },
  GH_ERR_EDGE_DECOMMISSIONED: {
    status: 410,
    source: "client",
    retryable: false,
    summary: "the edge was decommissioned: its credential is revoked for good",
  },
  GH_ERR_EDGE_TOO_OLD: {
    status: 426,
    source: "client",
    retryable: false,
    summary: "the edge's software is older than control's minimum edge version: upgrade it",
  },
  GH_ERR_PRECONDITION_FAILED: {
    status: 412,
    source: "client",
    retryable: false,
    summary: "stale If-Match",
  },
  GH_ERR_PAYLOAD_TOO_LARGE: {
    status: 413,
    source: "client",
    retryable: false,
    summary: "body too large",
  },
  GH_ERR_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    source: "client",
    retryable: false,
    summary: "unsupported content type",
  },
  GH_ERR_INVALID_RULE: {
    status: 422,
    source: "client",
    retryable: false,
    summary: "expression does not compile",
  },
  GH_ERR_VALIDATION: {
    status: 422,
    source: "client",
    retryable: false,
    summary: "semantically invalid body",
  },
  GH_ERR_RATE_LIMITED: {
    status: 429,
    source: "client",
    retryable: true,
    summary: "too many requests",
  },
  GH_ERR_INTERNAL: { status: 500, source: "internal", retryable: true, summary: "internal error" },
  GH_ERR_UPSTREAM: { status: 502, source: "upstream", retryable: true, summary: "upstream failed" },
  GH_ERR_UNAVAILABLE: {
    status: 503,
    source: "internal",
    retryable: true,
    summary: "temporarily unavailable",
  },
  GH_ERR_UPSTREAM_TIMEOUT: {
    status: 504,
    source: "upstream",
    retryable: true,
    summary: "upstream timed out",
  },
  GH_ERR_CONFIG_REJECTED: {
    status: 422,
    source: "config",
    retryable: false,
    summary: "bundle failed to compile",
  },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The API's error body. */
export interface ErrorBody {
  readonly error: {
    readonly code: ErrorCode;
    readonly message: string;
    readonly details?: unknown;
  };
}

export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  constructor(code: ErrorCode, message: string, details?: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "GatehouseError";
    this.code = code;
    this.details = details;
  }
  get status(): number {
    return ERROR_CODES[this.code].status;
  }
  get source(): ErrorSource {
    return ERROR_CODES[this.code].source;
  }
  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }
  toBody(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

// ---- The edge's failures -----------------------------------------------------------------
// One typed error for the data plane (the DNS and proxy pipelines), as `GatehouseError` is for
// the API: what kind of failure, who caused it, whether a retry may help, and its cause. Each
// pipeline has one `fail` that turns it into its protocol's answer from this catalogue (an HTTP
// status for the proxy; SERVFAIL with an Extended DNS Error for DNS), so a kind gets the same
// answer on every path. `reason` is the query log's public `reason` field: it never changes.

export interface EdgeErrorInfo {
  readonly source: ErrorSource;
  /** Asking again (another connection, another upstream, later) may succeed. */
  readonly retryable: boolean;
  /** The proxy's answer. */
  readonly status: number;
  /** The DNS answer is SERVFAIL with this Extended DNS Error info code (RFC 8914 §4). */
  readonly ede: number;
  /** The query log's `reason` and the metrics' cause label. */
  readonly reason: string;
  /** What a proxy client is told (never an address or a cause); DNS answers carry a fixed text
   * per EDE code. */
  readonly summary: string;
}

/** RFC 8914 §4.1, §4.7, §4.23, §4.24. */
const EDE_OTHER = 0;
const EDE_DNSSEC_BOGUS = 6;
const EDE_NO_REACHABLE_AUTHORITY = 22;
const EDE_NETWORK_ERROR = 23;

function upstream(reason: string, timeout: boolean, summary: string): EdgeErrorInfo {
  return {
    source: "upstream",
    retryable: true,
    status: timeout ? 504 : 502,
    ede: timeout ? EDE_NO_REACHABLE_AUTHORITY : EDE_NETWORK_ERROR,
    reason,
    summary,
  };
}

function client(reason: string, status: number, summary: string): EdgeErrorInfo {
  return { source: "client", retryable: false, status, ede: EDE_OTHER, reason, summary };
}

export const EDGE_ERRORS = {
  // Reaching the other side (the proxy's origin or tunnel destination).
  connect_timeout: upstream("connect_timeout", true, "connecting to the origin timed out"),
  connect_failed: upstream("connect_failed", false, "could not reach the origin"),
  // The other side's answer.
  upstream_timeout: upstream("upstream_timeout", true, "the origin did not answer in time"),
  upstream_failed: upstream(
    "upstream_failed",
    false,
    "the origin sent an invalid or broken response",
  ),
  /** TLS inspection: the origin's certificate did not verify (expired, self-signed, …). */
  origin_cert_invalid: upstream(
    "origin_cert_invalid",
    false,
    "the site's certificate cannot be trusted",
  ),
  /** The proxy's own name resolution gave no usable address. */
  dns_failed: upstream("dns_failed", false, "the name did not resolve"),
  // DNS upstreams: what went wrong with the last one asked.
  upstream_network: upstream("upstream_network", false, "no upstream gave a usable answer"),
  upstream_tls: upstream("upstream_tls", false, "no upstream gave a usable answer"),
  upstream_malformed: upstream("upstream_malformed", false, "no upstream gave a usable answer"),
  upstream_mismatch: upstream("upstream_mismatch", false, "no upstream gave a usable answer"),
  upstream_case: upstream("upstream_case", false, "no upstream gave a usable answer"),
  upstream_http: upstream("upstream_http", false, "no upstream gave a usable answer"),
  upstream_rcode: upstream("upstream_rcode", false, "no upstream gave a usable answer"),
  /**
   * The upstream's answer failed DNSSEC validation (RFC 4035 §5.5: never handed out). The error
   * carries the RFC 8914 code of the cause (`EdgeError.ede`: 7 signature expired, 9 DNSKEY
   * missing, …; 6 when there is none more precise) and its short text (`detail`). No stale
   * answer stands in, and asking again gets the same answer (remembered for BOGUS_TTL).
   */
  dnssec_bogus: {
    source: "upstream",
    retryable: false,
    status: 502,
    ede: EDE_DNSSEC_BOGUS,
    reason: "dnssec_bogus",
    summary: "the answer failed DNSSEC validation",
  },
  // The client's side of an exchange.
  request_timeout: client("request_timeout", 408, "the request body stalled"),
  client_aborted: client("client_aborted", 400, "the request body ended early"),
  bad_request: client("bad_request", 400, "malformed request body"),
  // Ours.
  /** Shutting down: the exchange could not start. Logged as before (`upstream_failed`). */
  unavailable: {
    source: "internal",
    retryable: true,
    status: 503,
    ede: EDE_OTHER,
    reason: "upstream_failed",
    summary: "the proxy is shutting down",
  },
  internal: {
    source: "internal",
    retryable: false,
    status: 500,
    ede: EDE_OTHER,
    reason: "internal",
    summary: "internal error",
  },
} as const satisfies Record<string, EdgeErrorInfo>;

export type EdgeErrorKind = keyof typeof EDGE_ERRORS;
/** The query-log reasons an edge failure can leave. */
export type EdgeErrorReason = (typeof EDGE_ERRORS)[EdgeErrorKind]["reason"];

export class EdgeError extends Error {
  readonly kind: EdgeErrorKind;
  /**
   * Where it arose, more precisely than `source`: the upstream or origin address, or the stage.
   * For the logs; never shown to a client.
   */
  where: string | undefined;
  /** What a client may be told instead of the catalogue's summary (no address, no cause). */
  readonly detail: string | undefined;
  /** A more precise RFC 8914 code than the kind's (a DNSSEC failure's cause); DNS only. */
  readonly ede: number | undefined;
  /** `message` is for the logs: it may name addresses and causes. */
  constructor(
    kind: EdgeErrorKind,
    message: string,
    options?: {
      readonly cause?: unknown;
      readonly where?: string | undefined;
      readonly detail?: string | undefined;
      readonly ede?: number | undefined;
    },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "EdgeError";
    this.kind = kind;
    this.where = options?.where;
    this.detail = options?.detail;
    this.ede = options?.ede;
  }
  get info(): EdgeErrorInfo {
    return EDGE_ERRORS[this.kind];
  }
  get source(): ErrorSource {
    return EDGE_ERRORS[this.kind].source;
  }
  get retryable(): boolean {
    return EDGE_ERRORS[this.kind].retryable;
  }
  get reason(): EdgeErrorReason {
    return EDGE_ERRORS[this.kind].reason;
  }
}

/** Anything thrown, as an edge error: one already is; anything else is an internal error. */
export function asEdgeError(err: unknown): EdgeError {
  if (err instanceof EdgeError) return err;
  return new EdgeError("internal", err instanceof Error ? err.message : String(err), {
    cause: err,
  });
}
