// The engine's callbacks of one connection attempt (SessionUi): the sign-in questions (host key,
// password, keyboard-interactive rounds, a saved key's passphrase), the banner and a `check`
// rule's fresh sign-in. Each answers only while its attempt is the tab's current one: a
// reconnect or a closed tab turns the old attempt's questions into refusals.

import type { SessionState, SessionUi } from "../../worker/api.ts";
import { confirmHostKey } from "../dialogs/host-key.ts";
import { askInteractive, askKeyPassphrase, askPassword } from "../dialogs/login.ts";

/** What the callbacks of one attempt reach in its tab. */
export interface SignInHooks {
  /** Whether this attempt is still the tab's current one (not reconnected, not disposed). */
  current(): boolean;
  /** Aborts the attempt's open dialogs (the session closed). */
  signal: AbortSignal;
  /** The tab's label, named in the password and keyboard-interactive dialogs. */
  label: string;
  setState(state: SessionState, detail: string): void;
  /** Writes the server's banner (already with CRLF line ends) into the terminal. */
  banner(text: string): void;
  /** A mesh host's `check` rule wants a fresh sign-in. */
  signInRequired(checkUrl: string, message: string): void;
}

/** The SessionUi of one connection attempt (give it to the engine as a comlink proxy). */
export function signInUi(hooks: SignInHooks): SessionUi {
  const { current, signal, label } = hooks;
  return {
    onState: (state, detail) => {
      if (current()) hooks.setState(state, detail);
    },
    confirmHostKey: (prompt) =>
      current() ? confirmHostKey(prompt, signal) : Promise.resolve(false),
    askPassword: (prompt) =>
      current() ? askPassword(prompt, label, signal) : Promise.resolve(null),
    askInteractive: (name, instruction, prompts) =>
      current() ? askInteractive(label, name, instruction, prompts, signal) : Promise.resolve(null),
    askKeyPassphrase: (key, attempt) =>
      current() ? askKeyPassphrase(key, attempt, signal) : Promise.resolve(null),
    onBanner: (text) => {
      if (current()) hooks.banner(text.replace(/\r?\n/g, "\r\n"));
    },
    onSignInRequired: (checkUrl, message) => {
      if (current()) hooks.signInRequired(checkUrl, message);
    },
  };
}
