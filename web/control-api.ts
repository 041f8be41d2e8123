// The page's client for the control server's HTTP API (same origin, cookie session). Every
// state-changing call carries the session's CSRF token in `X-Corridor-CSRF` (the header
// server/control/api/guard.ts checks; GET /api/v1/whoami gives the token). Failures are thrown
// as ControlApiError with the server's own sentence, so views can show it as it is.

import type { UserView } from "../worker/control/api-views.ts";

/** Header the server reads the session's CSRF token from (server/control/auth/sessions.ts). */
export const CSRF_HEADER = "X-Corridor-CSRF";

/** A user as the API shows it (the shared wire type, worker/control/api-views.ts). */
export type ControlUser = UserView;

/** GET /api/v1/whoami for a signed-in caller. */
export interface WhoAmI {
  user: ControlUser;
  via: "session" | "apikey";
  /** The session's CSRF token (cookie sessions only). */
  csrf?: string;
  expiresAt: number | null;
}

/** A refused or failed call: the HTTP status (0: no answer), the server's code and sentence. */
export class ControlApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ControlApiError";
    this.status = status;
    this.code = code;
  }
}

/** Whether the user may use the admin views (admins and the owner). */
export function isAdminRole(role: string): boolean {
  return role === "admin" || role === "owner";
}

const MAX_ERROR_TEXT = 300;

function describe(method: string, path: string): string {
  return `${method} ${path.split("?")[0]}`;
}

async function readError(method: string, path: string, res: Response): Promise<ControlApiError> {
  let code = `http_${res.status}`;
  let message = `${describe(method, path)} failed: HTTP ${res.status}`;
  try {
    const text = await res.text();
    try {
      const body: unknown = JSON.parse(text);
      if (typeof body === "object" && body !== null) {
        const b = body as { error?: unknown; message?: unknown };
        if (typeof b.error === "string") code = b.error;
        if (typeof b.message === "string" && b.message !== "") message = b.message;
      }
    } catch {
      // Not JSON (a proxy's error page, say): keep the status line and a short excerpt.
      const excerpt = text.trim().slice(0, MAX_ERROR_TEXT);
      if (excerpt !== "") message = `${message}: ${excerpt}`;
    }
  } catch {
    // The body could not be read; the status line says enough.
  }
  return new ControlApiError(res.status, code, message);
}

/** Options of ControlApi.send. */
export interface SendOptions {
  /** Extra request headers, e.g. `{ "If-Match": '"3"' }` for a write that must not overwrite unseen. */
  headers?: Readonly<Record<string, string>>;
}

/** The control API as the page uses it. One instance per page (it caches the CSRF token). */
export class ControlApi {
  #csrf: string | null = null;

  constructor(private readonly base = "") {}

  /** Who is signed in, or null when nobody is (401). Remembers the CSRF token for send(). */
  async whoami(): Promise<WhoAmI | null> {
    try {
      const me = await this.get<WhoAmI>("/api/v1/whoami");
      this.#csrf = me.csrf ?? null;
      return me;
    } catch (err) {
      if (err instanceof ControlApiError && err.status === 401) {
        this.#csrf = null;
        return null;
      }
      throw err;
    }
  }

  /** GET a JSON resource. */
  get<T>(path: string): Promise<T> {
    return this.#request<T>("GET", path);
  }

  /**
   * A state-changing call with an optional JSON body (asks whoami first for the CSRF token).
   * `headers` adds request headers (e.g. `If-Match` for a conditional write). A refusal with
   * `csrf_token_invalid` means the session changed under this page (a sign-out and sign-in in
   * another tab): the token is fetched again and the call retried once.
   */
  async send<T>(
    method: "POST" | "PUT" | "PATCH" | "DELETE",
    path: string,
    body?: unknown,
    options: SendOptions = {},
  ): Promise<T> {
    if (this.#csrf === null) await this.whoami();
    try {
      return await this.#request<T>(method, path, body, options.headers);
    } catch (err) {
      if (!(err instanceof ControlApiError) || err.code !== "csrf_token_invalid") throw err;
      const me = await this.whoami();
      if (me === null) {
        throw new ControlApiError(
          401,
          "signed_out",
          `${describe(method, path)}: you were signed out (in another tab?): sign in again`,
        );
      }
      return this.#request<T>(method, path, body, options.headers);
    }
  }

  /** Forgets the cached CSRF token (after signing out). */
  forget(): void {
    this.#csrf = null;
  }

  async #request<T>(
    method: string,
    path: string,
    body?: unknown,
    extra: Readonly<Record<string, string>> = {},
  ): Promise<T> {
    if (!path.startsWith("/")) {
      throw new ControlApiError(0, "bad_path", `control API path must start with "/": ${path}`);
    }
    const headers: Record<string, string> = { ...extra, accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (method !== "GET" && this.#csrf !== null) headers[CSRF_HEADER] = this.#csrf;
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers,
        credentials: "same-origin",
        cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new ControlApiError(
        0,
        "unreachable",
        `${describe(method, path)}: the control server did not answer (${why})`,
      );
    }
    if (!res.ok) throw await readError(method, path, res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    if (text === "") return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ControlApiError(
        res.status,
        "bad_response",
        `${describe(method, path)}: the answer is not JSON`,
      );
    }
  }
}

/** The page's control API client. */
export const controlApi = new ControlApi();
