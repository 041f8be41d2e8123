// The engine's API, SSH sessions: what to connect to, the page's callbacks (host key decision,
// passwords, state changes) and the terminal bytes on a MessagePort (part of EngineApi,
// re-exported by worker/api.ts).

import type { SshKeySummary } from "./ssh-keys.ts";

/** The server's host key on first contact, for the user's decision. */
export interface HostKeyPrompt {
  host: string;
  port: number;
  keyType: string;
  fingerprint: string;
}

/** Where a session is; `detail` says more (the closing reason, a fingerprint). */
export type SessionState = "connecting" | "handshaking" | "authenticating" | "connected" | "closed";

/** Callbacks of one session, given to openSession as a comlink proxy. */
export interface SessionUi {
  onState(state: SessionState, detail: string): void;
  /** An unknown host key: resolve true to trust it (it is then remembered). */
  confirmHostKey(prompt: HostKeyPrompt): Promise<boolean>;
  /** Password for `prompt`; null cancels. */
  askPassword(prompt: string): Promise<string | null>;
  /** keyboard-interactive round; null cancels. */
  askInteractive(
    name: string,
    instruction: string,
    prompts: { prompt: string; echo: boolean }[],
  ): Promise<string[] | null>;
  onBanner(text: string): void;
  /**
   * The passphrase of a chosen SSH key saved encrypted, asked when a session first needs it
   * (attempt counts from 1); null skips the key. Absent or failing: the key is skipped.
   */
  askKeyPassphrase?(key: SshKeySummary, attempt: number): Promise<string | null>;
  /**
   * A mesh host's identity SSH server refused the login because a `check` rule wants a fresh
   * sign-in (`checkUrl`, "<server>/login/check"); `message` is the server's sentence. The
   * session is closed after this; the page sends the person through the sign-in and back.
   */
  onSignInRequired?(checkUrl: string, message: string): void;
  /**
   * A mesh host's identity SSH server refused the login (its policy, `message` its sentence):
   * not a network failure, so reconnecting as the same user would be refused again. Called
   * before onState("closed").
   */
  onLoginRefused?(message: string): void;
}

/** What to connect to. */
export interface SessionRequest {
  networkId: string;
  host: string;
  port: number;
  username: string;
  /**
   * The SSH keys to offer (ids), as the user chose them for this host; [] offers none
   * (password and prompts only). Once the login succeeds the choice is remembered for the
   * network, host and user. Default: the remembered choice, else no key at all (a server
   * learns every public key offered, so the engine never offers all it holds).
   */
  keyIds?: string[];
  cols: number;
  rows: number;
  term?: string;
  /**
   * An id the page picks, so closeSession can also cancel a session that is still connecting
   * (a closed tab); default: the engine picks one.
   */
  sessionId?: string;
}

/**
 * Messages on a session's MessagePort. Page → engine: "input" (keystrokes, pasted text),
 * "resize", and "ack" (output bytes the terminal has rendered: the engine keeps at most
 * OUTPUT_WINDOW bytes unacknowledged, so a flood of output waits in the SSH channel, not in
 * the page's memory). Engine → page: "output" (stdout and stderr bytes) and "exit".
 */
export type TerminalMessage =
  | { type: "input"; data: Uint8Array }
  | { type: "resize"; cols: number; rows: number }
  | { type: "ack"; bytes: number }
  | { type: "output"; data: Uint8Array }
  | { type: "exit"; code: number | null; signal: string | null };

/** Output bytes the engine sends ahead of the page's acks. */
export const OUTPUT_WINDOW = 1 << 20;

/** The session calls of EngineApi. */
export interface SessionsApi {
  /**
   * Forgets the trusted host keys of host:port on a network (as `ssh-keygen -R`), after the
   * user confirmed the host's key was really replaced; the next session asks again. Returns
   * how many keys were forgotten.
   */
  forgetHostKey(networkId: string, host: string, port: number): Promise<number>;

  /**
   * Opens an SSH session: TCP through the network, host key check against the network's
   * known hosts (unknown → ui.confirmHostKey; changed → refused, with both fingerprints in the
   * "closed" detail), authentication with keys then ui prompts, a pty of cols × rows and a
   * shell. Terminal bytes flow on `port`. Resolves with a session id once connected; rejects
   * with the reason (also reported as "closed").
   */
  openSession(request: SessionRequest, ui: SessionUi, port: MessagePort): Promise<string>;
  /** Closes a session, or cancels it while it connects (openSession then rejects). */
  closeSession(id: string): Promise<void>;
}
