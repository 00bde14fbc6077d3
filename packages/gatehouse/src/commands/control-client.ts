// A small client for control's REST API, for the CLI's own use (seeding a first run, creating
// join tokens). Errors carry control's GH_ERR_* code and message.

export class ControlClient {
  readonly #base: string;
  readonly #token: string;
  constructor(baseUrl: string, token: string) {
    this.#base = `${baseUrl.replace(/\/+$/, "")}/api/v1`;
    this.#token = token;
  }

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const text = await this.#send(method, path, body);
    return (text === "" ? undefined : JSON.parse(text)) as T;
  }

  /** Send a YAML document; the JSON answer. */
  async yaml<T = unknown>(method: string, path: string, yaml: string): Promise<T> {
    const text = await this.#send(method, path, yaml, "application/yaml");
    return (text === "" ? undefined : JSON.parse(text)) as T;
  }

  /** A GET whose answer is not JSON (a profile, a YAML export): its text. */
  async text(path: string): Promise<string> {
    return this.#send("GET", path, undefined);
  }

  async #send(method: string, path: string, body: unknown, type?: string): Promise<string> {
    const res = await fetch(`${this.#base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.#token}`,
        ...(body === undefined ? {} : { "content-type": type ?? "application/json" }),
      },
      ...(body === undefined ? {} : { body: type ? String(body) : JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (!res.ok) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        // not JSON: the text is shown
      }
      const err = (
        json as { error?: { code?: string; message?: string; details?: unknown } } | undefined
      )?.error;
      throw new ControlError(
        `${method} ${path}: ${res.status} ${err?.code ?? ""} ${err?.message ?? text.slice(0, 200)}`.trim(),
        res.status,
        err?.details,
      );
    }
    return text;
  }
}

/** An error answer from control: its status and the error's details (problems, tests). */
export class ControlError extends Error {
  readonly status: number;
  readonly details: unknown;
  constructor(message: string, status: number, details: unknown) {
    super(message);
    this.name = "ControlError";
    this.status = status;
    this.details = details;
  }
}
