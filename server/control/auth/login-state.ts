// The server-side half of an OIDC sign-in in progress: state, nonce, PKCE code verifier and the
// path to return to, keyed by state, kept in memory for 10 minutes and taken exactly once (a
// replayed callback finds nothing). One server holds them; when control servers scale out
// (issue 18) this moves into the store. Bounded: past the limit the oldest attempts are dropped
// (their callbacks then fail as unknown and the person starts again).

/** One sign-in attempt waiting for the provider's callback. */
export interface PendingLogin {
  nonce: string;
  codeVerifier: string;
  /** A local path ("/", "/approve/abc"). */
  returnTo: string;
  expiresAt: number;
  /**
   * A fresh sign-in was asked for (GET /login/check: prompt=login, max_age=0): the wall-clock
   * time of the request (unix ms), which the ID token's auth_time must not be older than.
   */
  freshSince?: number;
}

/** How long a person may take at the provider. */
export const LOGIN_ATTEMPT_TTL_MS = 10 * 60 * 1000;

/** Pending sign-ins by state. */
export class PendingLogins {
  readonly #byState = new Map<string, PendingLogin>();
  readonly #max: number;

  constructor(maxPending = 10_000) {
    this.#max = maxPending;
  }

  /** Remembers an attempt under `state`. */
  put(state: string, login: PendingLogin): void {
    while (this.#byState.size >= this.#max) {
      const oldest = this.#byState.keys().next().value;
      if (oldest === undefined) break;
      this.#byState.delete(oldest);
    }
    this.#byState.set(state, login);
  }

  /** Removes and returns the attempt under `state`: null when unknown, taken or expired. */
  take(state: string, now: number): PendingLogin | null {
    const login = this.#byState.get(state);
    if (login === undefined) return null;
    this.#byState.delete(state);
    return login.expiresAt > now ? login : null;
  }

  /** Attempts held now. */
  get size(): number {
    return this.#byState.size;
  }
}
