/**
 * The client side of a framework's local API (see api-server.ts), for the CLI: one JSON request
 * with a deadline. A refusal comes back as an ApiCallError carrying the server's message (and a
 * spec's problems); a framework that does not answer is named with how to start it.
 */

/** How long a command waits for the framework's API. */
export const API_TIMEOUT_MS = 10_000;

/** The framework answered with an error status. */
export class ApiCallError extends Error {
  override readonly name = 'ApiCallError';
  constructor(
    readonly status: number,
    message: string,
    readonly problems: readonly { field: string; message: string }[] = [],
  ) {
    super(message);
  }
}

/** No framework answered at the address. */
export class ApiUnreachableError extends Error {
  override readonly name = 'ApiUnreachableError';
}

/** A client for one framework's API at `base` (`http://127.0.0.1:5060`); `what` names it in errors. */
export class ApiClient {
  constructor(
    readonly base: string,
    private readonly what: string,
    private readonly timeoutMs = API_TIMEOUT_MS,
  ) {}

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.call<T>('DELETE', path);
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        signal: AbortSignal.timeout(this.timeoutMs),
        ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new ApiUnreachableError(`cannot reach ${this.what} at ${this.base} (${why})`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiCallError(res.status, `${this.what} answered ${res.status} with something that is not JSON: ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const e = (json ?? {}) as { error?: string; problems?: { field: string; message: string }[] };
      throw new ApiCallError(res.status, e.error ?? `${this.what} answered ${res.status}`, e.problems ?? []);
    }
    return json as T;
  }
}
