// The engine's API, the mesh (issue 15): this browser as an ephemeral node of the control
// server's mesh, its peers with live state pushed from the map (part of EngineApi, re-exported
// by worker/api.ts).

/**
 * The network id of the mesh in every per-network call (listHosts, pingHost, openSession,
 * forgetHostKey): hosts there are named by their mesh names ("web-01", "web-01.<domain>") or
 * addresses. wg-quick networks keep their own ids beside it.
 */
export const MESH_NETWORK_ID = "mesh";

/** Where this browser's mesh node is. */
export type MeshState =
  /** No node: not started, or stopped (signed out). */
  | "stopped"
  /** Registering and waiting for the first map. */
  | "starting"
  /** Following the map stream. */
  | "ready"
  /** The map stream dropped; the node works on its last map while it reconnects. */
  | "reconnecting"
  /** The control server refused the node for good (not signed in, node removed, ...). */
  | "refused"
  /** It could not start (the detail says why). */
  | "error";

/** The person a node belongs to, as the map names them. */
export interface MeshUser {
  id: number;
  name: string;
  email: string;
}

/** This browser's node and the mesh around it. */
export interface MeshStatus {
  state: MeshState;
  /** Why it is refused or in error, or what it is doing (a sentence for the person). */
  detail?: string;
  /** The refusal code when refused ("unauthenticated", "node_removed", ...). */
  code?: string;
  /** This browser's node, once registered. */
  self?: {
    id: number;
    name: string;
    key: string;
    addresses: string[];
    user: MeshUser | null;
  };
  /** The mesh domain (names resolve as NAME and NAME.<domain>). */
  domain?: string;
  /** The relay the node uses. */
  relay?: { id: string; url: string; state: string; rttMs: number | null };
  /**
   * Direct paths (WebRTC data channels to agents, docs/paths.md): the setting, the pages that
   * run connections for the engine (a Worker has no WebRTC), the channels open now and the
   * offers this node has made.
   */
  direct?: { enabled: boolean; pages: number; channels: number; offersSent: number };
}

/** A peer of this browser's node, as the map and the device know it. */
export interface MeshHost {
  /** The control server's node id. */
  id: number;
  /** Its WireGuard public key (base64). */
  key: string;
  /** Unique mesh name. */
  name: string;
  /** The host name it reported. */
  hostname: string;
  addresses: string[];
  os: string;
  tags: string[];
  /** Its owner, or null for a tagged node. */
  owner: MeshUser | null;
  ephemeral: boolean;
  /** Pushed from the map (the node's map stream is up). */
  online: boolean;
  /** Last time its map stream was up (unix ms), or null. */
  lastSeen: number | null;
  /**
   * How our packets reach it: "direct" over a WebRTC data channel whose probes answer, the
   * relay, or none before any traffic.
   */
  path: "direct" | "relay" | "none";
  /** Round trip of the path's probes (on the path in use) or, before any, of pings (ms), or null. */
  rttMs: number | null;
  /** Last WireGuard handshake with it (unix ms), or null. */
  lastHandshake: number | null;
  /** It runs the agent's identity SSH server: its host keys are in the map (no prompt). */
  identitySsh: boolean;
  /** Its published SSH host keys ("ssh-ed25519 AAAA..."), for the host's details. */
  sshHostKeys?: string[];
}

/** Receives the mesh's state: now, and at every change (pushed from the map, not polled). */
export interface MeshListener {
  onMesh(status: MeshStatus, hosts: MeshHost[]): void;
}

/** The mesh calls of EngineApi. */
export interface MeshApi {
  /**
   * Joins the mesh as this browser's ephemeral node: a key made here (it never leaves), the
   * map stream at the page's origin (`/control`), registered by the signed-in session cookie
   * the WebSocket carries. Resolves at the first map, or with the refusal or error. One node
   * per engine: a second call (another tab) returns the running node's status.
   */
  meshStart(): Promise<MeshStatus>;
  meshStatus(): Promise<MeshStatus>;
  /** The node's peers (what the policy lets it see), with their live state. */
  meshHosts(): Promise<MeshHost[]>;
  /** Calls listener.onMesh now and at every change; returns an id for unwatchMesh. */
  watchMesh(listener: MeshListener): Promise<string>;
  unwatchMesh(id: string): Promise<void>;
  /**
   * Whether the engine still pushes to the watch `id`: it drops a listener that left
   * MAX_UNANSWERED pushes unanswered (a closed or frozen tab); a page that thaws asks and
   * watches again when this is false.
   */
  meshWatching(id: string): Promise<boolean>;
  /**
   * Leaves the mesh: the node logs out on its map stream (the server removes it at once), its
   * sessions close. The page signs the web session out itself (POST /api/v1/logout).
   */
  meshStop(): Promise<void>;
  /**
   * This page runs WebRTC connections for the engine (web/direct/rtc-host.ts) on `port`; a page
   * hosts at most 8 (worker/engine/rtc-port.ts). A page that calls again replaces its host.
   * `directPaths` is the person's setting as this page has it (meshSetDirect's), given in the
   * same call so that no offer goes out before the setting is known.
   */
  meshHostDirect(pageId: string, port: MessagePort, directPaths: boolean): Promise<void>;
  /** Turns direct paths on or off for every node of the engine (the person's setting). */
  meshSetDirect(enabled: boolean): Promise<void>;
}
