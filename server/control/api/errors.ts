// Every API failure is JSON `{"error": CODE, "message": SENTENCE, ...}` with a stable CODE
// (docs/control.md lists them). Routes throw ApiError; app.ts turns it into the response.

/** One problem with one field of a request (`path` names it: "expiry", "tags[1]"). */
export interface FieldIssue {
  path: string;
  message: string;
}

/** A refusal with an HTTP status, a stable code and a sentence. */
export class ApiError extends Error {
  readonly status: 400 | 401 | 403 | 404 | 409 | 412 | 413 | 415 | 429 | 503;
  readonly code: string;
  readonly extra: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    status: ApiError["status"],
    code: string,
    message: string,
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.extra = extra;
    this.headers = headers;
  }

  /** The JSON body of the response. */
  body(): Record<string, unknown> {
    return { error: this.code, message: this.message, ...this.extra };
  }
}

/** 400 invalid_body naming each field. */
export function invalidBody(issues: FieldIssue[]): ApiError {
  const first = issues[0];
  const message =
    first === undefined ? "invalid body" : `invalid body: ${first.path}: ${first.message}`;
  return new ApiError(400, "invalid_body", message, { issues });
}

/** 404 for a thing that does not exist or that the caller may not see (no difference shown). */
export function notFound(what: string, id: number | string): ApiError {
  return new ApiError(404, "not_found", `no ${what} with id ${id}`);
}

/** 403 for a missing role. */
export function forbidden(message: string): ApiError {
  return new ApiError(403, "forbidden", message);
}

/** Seconds a client is told to wait (Retry-After) while the database is away. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/**
 * 503 database_unavailable with Retry-After, for a StoreUnavailableError: the request changed
 * nothing and the same request may work shortly.
 */
export function databaseUnavailable(message: string): ApiError {
  return new ApiError(
    503,
    "database_unavailable",
    message,
    {},
    { "Retry-After": String(DATABASE_RETRY_AFTER_SECONDS) },
  );
}
