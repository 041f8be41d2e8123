// The engine's API, shares (issue 17): a shared device reached through its share link. The
// recipient's browser joins the mesh as a *share node*: its own WireGuard key, made here, whose
// map holds the one shared device and whose filter lets nothing in (the device cannot connect
// back). The engine makes the key, makes the accept call with the public half and joins; the
// page never sees the private key. Part of EngineApi, re-exported by worker/api.ts.

import type { MeshHost, MeshListener, MeshStatus } from "./mesh.ts";

/** The per-network calls (listHosts, pingHost, openSession, ...) name a share's node by this prefix. */
export const SHARE_NETWORK_PREFIX = "share:";

/** The network id of a share in the per-network calls ("share:<share id>"). */
export function shareNetworkId(shareId: string): string {
  return `${SHARE_NETWORK_PREFIX}${shareId}`;
}

/** The share id of a share's network id, or null when `networkId` names no share. */
export function shareIdOf(networkId: string): string | null {
  if (!networkId.startsWith(SHARE_NETWORK_PREFIX)) return null;
  const id = networkId.slice(SHARE_NETWORK_PREFIX.length);
  return SHARE_ID.test(id) ? id : null;
}

/** A share's public id: 16 to 64 characters of base64url (the server makes 22). */
export const SHARE_ID = /^[A-Za-z0-9_-]{16,64}$/;

/** A share's node in this browser, and the device it reaches. */
export interface ShareState {
  shareId: string;
  /** Its network id in the per-network calls. */
  networkId: string;
  /** The share node: joining, ready, refused (revoked, expired), ... (MeshStatus's states). */
  status: MeshStatus;
  /** The shared device as the map shows it; null before the first map or after a refusal. */
  device: MeshHost | null;
}

/** The accept call's answer when the server refused (the API's status, code and sentence). */
export interface ShareRefusal {
  ok: false;
  /** HTTP status (0: the server could not be reached). */
  status: number;
  /** The API's error code ("share_used_up", "share_expired", "share_sign_in_required", ...). */
  code: string;
  message: string;
}

/** What shareAccept resolves with. */
export type ShareAcceptResult = { ok: true; state: ShareState } | ShareRefusal;

/** The share calls of EngineApi. */
export interface SharesApi {
  /**
   * Accepts a share link's offer and joins as the share's node: a key pair made here (kept in
   * the engine's memory, never stored or returned), its public half sent with the link's
   * secret to the control server (POST /api/v1/shares/:id/accept, with this origin's session
   * cookie when signed in), then the map stream with that key. Resolves at the first map, or
   * with the server's refusal. A share this engine already joined returns its state at once.
   */
  shareAccept(shareId: string, secret: string): Promise<ShareAcceptResult>;
  /** The share's state now; null when this engine holds no node for it. */
  shareState(shareId: string): Promise<ShareState | null>;
  /** Every share this engine holds a node for. */
  listShareStates(): Promise<ShareState[]>;
  /** Calls listener.onMesh now and at every change of the share's node; an id for unwatchShare. */
  watchShare(shareId: string, listener: MeshListener): Promise<string>;
  unwatchShare(shareId: string, id: string): Promise<void>;
  /** Leaves the share: the node logs out (the server removes it at once), its sessions close. */
  shareLeave(shareId: string): Promise<void>;
}
