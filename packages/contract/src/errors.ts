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
