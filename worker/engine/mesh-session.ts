// An SSH session to a mesh host (docs/page.md, "The mesh in the engine"): the name resolved
// through the map, TCP through the mesh node's interface, and identity SSH — the mesh identity
// is the credential, so no key is offered unless the user chose one, and the identity SSH
// server's `none` login succeeds for callers the policy allows. The host key comes from the
// map (the agent publishes it): no prompt, and any other key is the hard stop with both
// fingerprints. A host without published keys (not an agent) is trusted on first use with a
// prompt, remembered in the mesh record. A refused login's banner becomes the closing detail;
// the page is told it was the server's refusal (ui.onLoginRefused), and a banner naming the
// control server's /login/check page offers the page a fresh sign-in (ui.onSignInRequired with
// the engine's own check URL, never the banner's; the page asks the control server whether a
// check rule applies before offering it).

import type { SessionRequest, SessionUi } from "../api.ts";
import type { PeerView } from "../control/types.ts";
import type { CryptoCore } from "../crypto/index.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import type { NetInterface } from "../net/interface.ts";
import type { UserKey } from "../ssh/keys/user-key.ts";
import { KnownHosts } from "../ssh/known-hosts.ts";
import { type OpenSession, openTerminalSession } from "./session.ts";

/** What a mesh session needs besides the request. */
export interface MeshSessionDeps {
  core: CryptoCore;
  x25519: X25519Provider;
  net: NetInterface;
  /** The peer the request's host names. */
  peer: PeerView;
  /** The address to connect to (the peer's first). */
  address: string;
  keys: readonly UserKey[];
  /** known_hosts text of mesh hosts without map keys (the mesh record). */
  storedKnownHosts: string;
  /** Saves the stored known hosts after a key was accepted on first use. */
  saveKnownHosts: (text: string) => Promise<void>;
  /** The control server's sign-in check page ("http://host/login/check"). */
  checkUrl: string;
  signal?: AbortSignal;
}

/**
 * The port the map's published host keys are for: the agent's identity SSH server listens on
 * 22 (`corridor agent --ssh-port`, default 22). Another port of the same host is another
 * server (sshd behind the agent's forwarding): trusted on first use, not held to the map's key.
 */
export const IDENTITY_SSH_PORT = 22;

/** known_hosts lines for `name` at `port` from the map's published keys. */
export function mapKnownHosts(name: string, port: number, keys: readonly string[]): KnownHosts {
  const label = port === 22 ? name : `[${name}]:${port}`;
  // Only "TYPE BASE64" pairs: anything else in a key would be read as more patterns or markers.
  const lines = keys
    .map((key) => key.trim().split(/\s+/))
    .filter((parts) => parts.length >= 2 && /^[a-z0-9@.-]+$/i.test(parts[0]!))
    .map((parts) => `${label} ${parts[0]} ${parts[1]}`);
  return KnownHosts.parse(lines.join("\n"));
}

/** Whether an SSH failure is the server's refusal of the login (not the network, not a key). */
function isAuthFailure(detail: string): boolean {
  return detail.startsWith("authentication failed");
}

/**
 * Opens the session; rejects (after ui.onState "closed") with the reason: a refused login's
 * reason is the server's banner sentence.
 */
export async function openMeshSession(
  request: SessionRequest,
  ui: SessionUi,
  port: MessagePort,
  deps: MeshSessionDeps,
): Promise<OpenSession> {
  const published = deps.peer.sshHostKeys.length > 0 && request.port === IDENTITY_SSH_PORT;
  const knownHosts = published
    ? mapKnownHosts(deps.peer.name, request.port, deps.peer.sshHostKeys)
    : KnownHosts.parse(deps.storedKnownHosts);
  const banners: string[] = [];
  let refusal: string | undefined;
  // Forwards to the page's SessionUi (a comlink proxy: every member is called through), and
  // turns an authentication failure after a banner into the banner's sentence.
  const relay: SessionUi = {
    onState(state, detail) {
      if (state === "closed" && isAuthFailure(detail) && banners.length > 0) {
        refusal = banners.join("\n").trim();
        void Promise.resolve(ui.onLoginRefused?.(refusal)).catch(() => {});
        if (/\/login\/check\b/.test(refusal)) {
          void Promise.resolve(ui.onSignInRequired?.(deps.checkUrl, refusal)).catch(() => {});
        }
        return ui.onState(state, refusal);
      }
      return ui.onState(state, detail);
    },
    confirmHostKey: (prompt) =>
      // A host that publishes keys never prompts: an unknown key there is refused.
      published ? Promise.resolve(false) : ui.confirmHostKey(prompt),
    askPassword: (prompt) => ui.askPassword(prompt),
    askInteractive: (name, instruction, prompts) => ui.askInteractive(name, instruction, prompts),
    onBanner(text) {
      banners.push(text);
      return ui.onBanner(text);
    },
    askKeyPassphrase: (key, attempt) =>
      Promise.resolve(ui.askKeyPassphrase?.(key, attempt) ?? null),
  };
  try {
    return await openTerminalSession({ ...request, host: deps.peer.name }, relay, port, {
      core: deps.core,
      x25519: deps.x25519,
      net: deps.net,
      keys: deps.keys,
      knownHosts,
      address: deps.address,
      onLearned: async () => {
        if (!published) await deps.saveKnownHosts(knownHosts.toString());
      },
      signal: deps.signal,
    });
  } catch (error) {
    if (refusal !== undefined) throw new Error(refusal);
    throw error;
  }
}
