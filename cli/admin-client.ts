// `corridor admin`'s HTTP client: calls the control server's API with the API key from
// CORRIDOR_API_KEY (never a flag: command lines are visible to every user of the machine) and
// turns every failure into one sentence for people: the server's refusal with its code, or why
// the server could not be reached.

/** A failure the command reports with its message and exit status 1. */
export class AdminError extends Error {
  override name = "AdminError";
}

/** The API's error body: `{error, message, ...}` (docs/control.md). */
export interface ApiFailure {
  error: string;
  message: string;
  [field: string]: unknown;
}

/** An answer of the API that was not a success. */
export class ApiRefusal extends AdminError {
  constructor(
    readonly status: number,
    readonly body: ApiFailure,
  ) {
    super(refusalSentence(status, body));
  }
}

/** How long a call may take before it is given up. */
const CALL_TIMEOUT_MS = 30_000;

/** The largest answer read (the node list of a big mesh fits many times over). */
const MAX_ANSWER = 64 << 20;

function refusalSentence(status: number, body: ApiFailure): string {
  if (status === 401) {
    return (
      `the server refused the API key (${body.error}): ${body.message}; ` +
      "set CORRIDOR_API_KEY to a key from `corridor admin apikey create --data DIR`"
    );
  }
  if (status === 403) return `not allowed (${body.error}): ${body.message}`;
  return `${body.message} (${status} ${body.error})`;
}

/** Calls the API at `server` with `key`. */
export class AdminClient {
  constructor(
    private readonly server: string,
    private readonly key: string,
  ) {}

  /** `method path` with an optional JSON body; resolves with the JSON answer (undefined for 204). */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(path, this.server);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.key}`,
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: "manual",
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new AdminError(`cannot reach the control server at ${url.origin}: ${why}`);
    }
    const declared = Number(response.headers.get("content-length") ?? "0");
    if (declared > MAX_ANSWER) {
      await response.body?.cancel();
      throw new AdminError(`${url.origin} answered too much (${declared} bytes)`);
    }
    const text = await response.text();
    if (text.length > MAX_ANSWER) throw new AdminError(`${url.origin} answered too much`);
    // Done, nothing to say (DELETE of a share): no body to read.
    if (response.status === 204) return undefined as T;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new AdminError(
        `${url.origin} is not a Corridor control server (${response.status}, not JSON on ${url.pathname})`,
      );
    }
    if (!response.ok) {
      const failure = json as Partial<ApiFailure>;
      throw new ApiRefusal(response.status, {
        ...failure,
        error: String(failure.error ?? "unknown"),
        message: String(failure.message ?? `HTTP ${response.status}`),
      });
    }
    return json as T;
  }
}
