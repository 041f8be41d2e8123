// The engine's API as the page sees it, exposed over comlink by worker/index.ts (DESIGN §2:
// the page talks to the engine only through this). Calls are request/response; terminal
// bytes of a session move over a MessagePort (see TerminalMessage), not one call per chunk.
// Callbacks from the engine to the page (host key decisions, passwords, state changes) are
// comlink proxies of SessionUi.
//
// Secrets stay here: the page never receives a WireGuard or SSH private key back (it may
// hand one in when the user pastes a config or imports a key file).

import type { WasmBuild } from "./crypto/index.ts";

/** What the engine reports about itself. */
export interface EngineStatus {
  /** The crypto core build the engine runs. */
  cryptoBuild: WasmBuild;
  /** Whether this WebAssembly engine validates SIMD. */
  simdSupported: boolean;
  /** Whether secrets can be kept across reloads (IndexedDB works here). */
  persistentStorage: boolean;
}

/** A peer of a network, as configured. */
export interface PeerSummary {
  publicKey: string;
  /** "ip:port" reached through the relay's UDP bridge, or absent (reached by key on the relay). */
  endpoint?: string;
  allowedIps: string[];
  persistentKeepalive?: number;
}

/** A network (one WireGuard interface of the browser). */
export interface NetworkSummary {
  id: string;
  name: string;
  /** This browser's public key on the network (base64). */
  publicKey: string;
  /** Tunnel addresses of this browser ("100.64.0.5/32"). */
  addresses: string[];
  peers: PeerSummary[];
  /** The relay's WebSocket URL ("ws://127.0.0.1:8080/relay"). */
  relayUrl: string;
  /** True when kept in IndexedDB; false when only for this tab's life. */
  persisted: boolean;
}

/** Options shared by importing and creating a network. */
export interface NetworkOptions {
  name: string;
  /** Default: the page's own origin, path /relay. */
  relayUrl?: string;
  /** Keep the network (and its private key) in IndexedDB; false keeps it for the tab only. */
  persist: boolean;
}

/** A network made from a key the engine generated (generateNetworkKey) and a form. */
export interface CreateNetworkInput extends NetworkOptions {
  /** The public key generateNetworkKey returned: the engine holds its private half. */
  publicKey: string;
  /** This browser's tunnel address(es) with prefix, e.g. "100.64.0.5/32". */
  addresses: string[];
  peer: PeerSummary;
}

/** A host reachable through a network: from a peer's allowed IPs, or added by the user. */
export interface HostEntry {
  networkId: string;
  /** An IPv4 or IPv6 address inside the mesh. */
  address: string;
  /** A name the user gave, or "" (the address is shown). */
  name: string;
  /** "peer" when derived from a single-address allowed IP, "user" when added by hand. */
  source: "peer" | "user";
}

/** Live state of a network for the details panel. */
export interface NetworkStatus {
  id: string;
  state: "stopped" | "starting" | "running" | "error";
  /** Why it is in "error". */
  error?: string;
  relay: {
    state: string;
    rttMs: number | null;
    url: string;
    /** Set when the relay is reached unencrypted over a network (ws:// to a non-loopback host). */
    warning?: string;
    /** Why the relay connection stopped for good (refused, or a key other than the pinned one). */
    error?: string;
  };
  peers: {
    publicKey: string;
    /** Milliseconds since the epoch of the last handshake, or null before the first. */
    lastHandshake: number | null;
    rxBytes: number;
    txBytes: number;
  }[];
}

/** An SSH user key held by the engine. */
export interface SshKeySummary {
  id: string;
  type: string;
  comment: string;
  fingerprint: string;
  /** The authorized_keys line to paste on hosts. */
  authorizedKey: string;
  persisted: boolean;
  /** Saved sealed under a passphrase (no plaintext private key in IndexedDB). */
  encrypted: boolean;
  /** Encrypted and not opened in the engine's memory yet (or locked again). */
  locked: boolean;
}

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

/** The API object the Worker exposes. */
export interface EngineApi {
  /** Loads the crypto core (once) and reports the engine's state. */
  status(): Promise<EngineStatus>;

  /** Networks saved in IndexedDB and those kept for this tab; started on demand. */
  listNetworks(): Promise<NetworkSummary[]>;
  /** Imports a wg-quick file's text (its private key stays in the engine). */
  importNetwork(configText: string, options: NetworkOptions): Promise<NetworkSummary>;
  /** A fresh key pair for a new network; returns the public key (base64). */
  generateNetworkKey(): Promise<string>;
  /** Creates a network from a generated key (createNetworkInput.publicKey) and a form. */
  createNetwork(input: CreateNetworkInput): Promise<NetworkSummary>;
  removeNetwork(id: string): Promise<void>;
  /** Starts the network's WireGuard device and relay connection (no-op when running). */
  startNetwork(id: string): Promise<NetworkStatus>;
  networkStatus(id: string): Promise<NetworkStatus>;

  listHosts(networkId: string): Promise<HostEntry[]>;
  addHost(networkId: string, address: string, name: string): Promise<HostEntry>;
  removeHost(networkId: string, address: string): Promise<void>;
  /** ICMP echo through the tunnel; the round trip in ms, or null without an answer in time. */
  pingHost(networkId: string, address: string, timeoutMs?: number): Promise<number | null>;

  /**
   * Forgets the trusted host keys of host:port on a network (as `ssh-keygen -R`), after the
   * user confirmed the host's key was really replaced; the next session asks again. Returns
   * how many keys were forgotten.
   */
  forgetHostKey(networkId: string, host: string, port: number): Promise<number>;

  listSshKeys(): Promise<SshKeySummary[]>;
  /** A new Ed25519 key; with a passphrase (8+ characters) a saved key is stored encrypted. */
  generateSshKey(comment: string, persist: boolean, passphrase?: string): Promise<SshKeySummary>;
  /**
   * Imports an OpenSSH private key file; throws a clear error (wrong passphrase, RSA…). A
   * key file's passphrase also protects the saved copy.
   */
  importSshKey(
    text: string,
    passphrase: string | undefined,
    persist: boolean,
  ): Promise<SshKeySummary>;
  removeSshKey(id: string): Promise<void>;
  /**
   * Sets (8+ characters), changes or with null removes the passphrase that encrypts a saved
   * key; a locked key needs `current`. Throws "wrong passphrase for the key …".
   */
  setSshKeyPassphrase(
    id: string,
    passphrase: string | null,
    current?: string,
  ): Promise<SshKeySummary>;
  /** Opens an encrypted key in the engine's memory; throws "wrong passphrase for the key …". */
  unlockSshKey(id: string, passphrase: string): Promise<SshKeySummary>;
  /** Forgets every opened encrypted key (they ask again); returns how many were locked. */
  lockSshKeys(): Promise<number>;
  /** The keys chosen for `username` at `host` on a network, or null when never chosen. */
  sshKeyChoice(networkId: string, host: string, username: string): Promise<string[] | null>;

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
