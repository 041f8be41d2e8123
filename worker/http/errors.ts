// Errors of the engine's HTTP client. Each names the service (host:port) and what happened, so
// a page or `corridor curl` can show it as is.

/** What went wrong, for callers that choose a page or an exit code from it. */
export type HttpErrorCode =
  | "connect" // dialing failed
  | "timeout" // connect, response head or body idle timeout
  | "closed" // the server closed or reset the connection
  | "protocol" // the server's response could not be parsed
  | "request" // the request could not be sent as given (bad header, body length mismatch)
  | "aborted"; // the caller's AbortSignal fired

/** An HTTP exchange failed. `service` is "host:port". */
export class HttpError extends Error {
  override readonly name = "HttpError";
  constructor(
    readonly code: HttpErrorCode,
    readonly service: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${service}: ${detail}`, options);
  }
}

/** How far an exchange got before it failed: decides whether a retry is safe. */
export interface ExchangeProgress {
  /** Request bytes accepted by the connection's writable. */
  bytesWritten: number;
  /** Response bytes received. */
  bytesRead: number;
  /** The request body stream was read from (it cannot be replayed). */
  bodyTouched: boolean;
}

/** An HttpError carrying the progress of the failed exchange. */
export class HttpExchangeError extends HttpError {
  constructor(
    code: HttpErrorCode,
    service: string,
    detail: string,
    readonly progress: ExchangeProgress,
    options?: { cause?: unknown },
  ) {
    super(code, service, detail, options);
  }
}
