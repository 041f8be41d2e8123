// Who is signed in to the control server that serves this page, and how one signs in. A page
// served without a control server (a plain static host) has no mesh: "unavailable", and the
// wg-quick networks work as before.

import { type ControlApi, ControlApiError, type WhoAmI } from "../control-api.ts";

/** GET /api/v1/login/methods. */
export interface SignInMethods {
  link: boolean;
  /** The deployment's identity provider, or null (owner and invitation links only). */
  oidc: { issuer: string } | null;
  /** Whether this request carried a live session (absent on older servers). */
  signedIn?: boolean;
  /** The server's `--apps-domain` (private URLs beside the page), when it has one. */
  appsDomain?: string;
}

export type Account =
  | { state: "unavailable"; detail: string }
  | { state: "signed-out"; methods: SignInMethods }
  | { state: "signed-in"; methods: SignInMethods; me: WhoAmI };

function isMethods(value: unknown): value is SignInMethods {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    v.link === true &&
    (v.oidc === null || typeof v.oidc === "object") &&
    (v.appsDomain === undefined || (typeof v.appsDomain === "string" && v.appsDomain.length <= 253))
  );
}

/** Asks the control server; never throws (a failure is "unavailable" with the reason). */
export async function loadAccount(api: ControlApi): Promise<Account> {
  let methods: SignInMethods;
  try {
    const answer = await api.get<unknown>("/api/v1/login/methods");
    if (!isMethods(answer)) {
      return { state: "unavailable", detail: "the server's sign-in methods are not understood" };
    }
    methods = answer;
  } catch (error) {
    const detail =
      error instanceof ControlApiError && error.status === 404
        ? "this page is served without a control server"
        : error instanceof Error
          ? error.message
          : String(error);
    return { state: "unavailable", detail };
  }
  if (methods.signedIn === false) return { state: "signed-out", methods };
  try {
    const me = await api.whoami();
    return me === null ? { state: "signed-out", methods } : { state: "signed-in", methods, me };
  } catch (error) {
    return { state: "unavailable", detail: error instanceof Error ? error.message : String(error) };
  }
}

/** Ends the web session (POST /api/v1/logout); the mesh node is stopped before by the caller. */
export async function signOut(api: ControlApi): Promise<void> {
  try {
    await api.send("POST", "/api/v1/logout");
  } finally {
    api.forget();
  }
}
