// The signed-out page: the deployment's sign-in (its SSO, or the owner / invitation links when
// no identity provider is set). The route the page was opened with is saved first, so the
// sign-in round trip comes back to it (web/shell/return-route.ts).

import { button, h } from "../dom.ts";
import type { SignInMethods } from "../shell/account.ts";
import { returnPath, saveReturnRoute } from "../shell/return-route.ts";

export interface SignInOptions {
  methods: SignInMethods;
  /** The route to come back to ("#/ssh/root@web-01"; "#/" for the home page). */
  returnHash: string;
  /** Why sign-in is asked for now (an expired session, a refused node), or "". */
  reason: string;
  onAddNetwork(): void;
}

function issuerName(issuer: string): string {
  try {
    return new URL(issuer).host;
  } catch {
    return issuer;
  }
}

export function signInView(options: SignInOptions): HTMLElement {
  saveReturnRoute(options.returnHash);
  const { oidc } = options.methods;
  const how = oidc
    ? button(
        `Sign in with ${issuerName(oidc.issuer)}`,
        () => {
          saveReturnRoute(options.returnHash);
          location.assign(
            `/login/oidc?return=${encodeURIComponent(returnPath(options.returnHash))}`,
          );
        },
        { class: "primary large", testid: "sign-in-oidc" },
      )
    : h(
        "div",
        { class: "sign-in-links", testid: "sign-in-links" },
        h(
          "p",
          {},
          "This server signs people in with links. Open the owner link that ",
          h("code", { text: "corridor serve" }),
          " printed (a new one: ",
          h("code", { text: "corridor admin owner-link --data DIR" }),
          "), or an invitation link an admin gave you.",
        ),
        h("p", {
          class: "muted",
          text: "Open it in this tab: after signing in you come back to this page.",
        }),
      );
  return h(
    "section",
    { class: "page sign-in", testid: "sign-in-view" },
    h(
      "div",
      { class: "welcome" },
      h("h1", { text: "Sign in to your mesh" }),
      h("p", {
        class: "lead",
        text: "Signed in, this browser joins the mesh as its own node: your hosts by name, live, and SSH without passwords or keys.",
      }),
      options.reason
        ? h("p", { class: "form-error", testid: "sign-in-reason", text: options.reason })
        : null,
      how,
      h(
        "div",
        { class: "subsection sign-in-networks" },
        h("p", {
          class: "muted",
          text: "WireGuard networks (wg-quick) work in this browser without signing in.",
        }),
        button("Add a network", () => options.onAddNetwork(), {
          class: "ghost",
          testid: "sign-in-add-network",
        }),
      ),
    ),
  );
}
