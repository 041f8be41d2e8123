// The header's account part: who is signed in and "Sign out", or "Sign in"; nothing when the
// page has no control server.

import { button, h, replace } from "../dom.ts";
import type { Account } from "./account.ts";

export interface AccountActions {
  signIn(): void;
  signOut(): void;
}

export class AccountBar {
  constructor(
    private readonly element: HTMLElement,
    private readonly actions: AccountActions,
  ) {
    element.hidden = true;
  }

  show(account: Account | null): void {
    this.element.hidden = account === null || account.state === "unavailable";
    if (account === null || account.state === "unavailable") {
      replace(this.element);
      return;
    }
    if (account.state === "signed-out") {
      replace(
        this.element,
        button("Sign in", () => this.actions.signIn(), {
          class: "primary small",
          testid: "header-sign-in",
        }),
      );
      return;
    }
    const { user } = account.me;
    const signOut = button(
      "Sign out",
      () => {
        signOut.disabled = true;
        this.actions.signOut();
      },
      { class: "ghost", testid: "sign-out" },
    );
    replace(
      this.element,
      h("span", {
        class: "account-user",
        testid: "account-user",
        text: user.name || user.email,
        title: `${user.name} <${user.email}> · ${user.role}`,
      }),
      signOut,
    );
  }
}
