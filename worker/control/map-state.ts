// The node's copy of its network map, kept up to date from the map stream: a `map` replaces
// it, each `delta` must carry the next sequence number (a gap means messages were lost: the
// client reconnects and resumes). Peers are kept by id and indexed by key and by name; names
// resolve as NAME and NAME.<domain>, ignoring case. Every application returns a MapDiff
// against the state before it, full maps included, so a resync disturbs only what changed.
//
// A delta applies in this order: peersRemoved, peersUpserted, self, patches, then filter, ssh,
// relays and token. Removing or patching an id the map does not hold is ignored (the server
// may have raced a removal); an upsert of this node's own id, or a key or name that another
// node holds, is a protocol error. After any error the state needs a full map (`ready` is
// false and `resumePoint()` undefined) but keeps its last good data to diff the next map with.

import { ControlProtocolError } from "./errors.ts";
import { changedFields, emptyDiff, type MapDiff, recordPeer, sameJson } from "./map-diff.ts";
import type { DeltaMessage, MapMessage } from "./messages.ts";
import { CONTROL_LIMITS } from "./schema.ts";
import type {
  FilterRule,
  NetworkMap,
  PeerView,
  RelayInfo,
  RelayTokenGrant,
  SshRule,
} from "./types.ts";

export { diffIsEmpty, type MapDiff, type PeerChange, type PeerField } from "./map-diff.ts";

/** A delta whose sequence number is not the next one: messages were lost or repeated. */
export class SequenceGapError extends ControlProtocolError {
  constructor(
    /** The sequence number that should have come. */
    readonly expected: number,
    /** The one that came. */
    readonly got: number,
  ) {
    super("seq", `expected ${expected}, got ${got}: reconnect and resume`);
  }
}

/** Where a resumed stream continues: the session and the last sequence number applied. */
export interface ResumePoint {
  session: string;
  seq: number;
  /** The cursor of the last applied message that carried one (messages.ts MapMessage). */
  cursor?: string;
}

/** A node's network map, applied message by message. */
export class MapState {
  private map: NetworkMap | undefined;
  private sessionId: string | undefined;
  private seqValue = -1;
  private cursorValue: string | undefined;
  private usable = false;
  private readonly peersById = new Map<number, PeerView>();
  private readonly byKey = new Map<string, number>();
  private readonly byName = new Map<string, number>();

  /** True once a full map is applied and no error has happened since. */
  get ready(): boolean {
    return this.usable;
  }

  /** The session of the last full map. */
  get session(): string | undefined {
    return this.sessionId;
  }

  /** The last sequence number applied (-1 before the first map). */
  get seq(): number {
    return this.seqValue;
  }

  /** This node's own view. Throws before the first map. */
  get self(): PeerView {
    return this.current().self;
  }

  /** The peers by id. */
  get peers(): ReadonlyMap<number, PeerView> {
    return this.peersById;
  }

  /** This node's inbound packet filter. Throws before the first map. */
  get filter(): readonly FilterRule[] {
    return this.current().filter;
  }

  /** SSH rules for this node. Throws before the first map. */
  get ssh(): readonly SshRule[] {
    return this.current().ssh;
  }

  /** The relays. Throws before the first map. */
  get relays(): readonly RelayInfo[] {
    return this.current().relays;
  }

  /** The relay token. Throws before the first map. */
  get token(): RelayTokenGrant {
    return this.current().token;
  }

  /** The mesh domain. Throws before the first map. */
  get domain(): string {
    return this.current().domain;
  }

  /** Where to resume after a reconnect; undefined when a full map is needed. */
  resumePoint(): ResumePoint | undefined {
    if (!this.usable || this.sessionId === undefined) return undefined;
    const point: ResumePoint = { session: this.sessionId, seq: this.seqValue };
    if (this.cursorValue !== undefined) point.cursor = this.cursorValue;
    return point;
  }

  /** A newer cursor from a keepalive (messages.ts KeepaliveMessage.cursor). */
  noteCursor(cursor: string): void {
    if (this.usable) this.cursorValue = cursor;
  }

  /** Asks for a full map next (the data stays, to diff the next map against). */
  forgetSession(): void {
    this.usable = false;
  }

  /** The peer with this id, or undefined. */
  peerById(id: number): PeerView | undefined {
    return this.peersById.get(id);
  }

  /** The peer with this WireGuard public key (base64), or undefined (this node is no peer). */
  peerByKey(key: string): PeerView | undefined {
    const id = this.byKey.get(key);
    return id === undefined || id === this.map?.self.id ? undefined : this.peersById.get(id);
  }

  /**
   * The node called `name` ("web-01", "WEB-01", "web-01.<domain>", a trailing dot allowed),
   * this node included; undefined when no node has that name.
   */
  nodeByName(name: string): PeerView | undefined {
    const map = this.map;
    if (map === undefined) return undefined;
    let n = name.trim().toLowerCase();
    if (n.endsWith(".")) n = n.slice(0, -1);
    const suffix = `.${map.domain.toLowerCase()}`;
    if (n.endsWith(suffix)) n = n.slice(0, -suffix.length);
    const id = this.byName.get(n);
    if (id === undefined) return undefined;
    return id === map.self.id ? map.self : this.peersById.get(id);
  }

  /** The mesh addresses of the node called `name` (see nodeByName), or undefined. */
  resolve(name: string): readonly string[] | undefined {
    return this.nodeByName(name)?.addresses;
  }

  /** The whole map as it stands now. Throws before the first map. */
  snapshot(): NetworkMap {
    const map = this.current();
    return { ...map, peers: [...this.peersById.values()] };
  }

  /**
   * Applies a decoded `map` or `delta`; returns what changed. Throws SequenceGapError for a
   * delta that is not the next, ControlProtocolError for one that contradicts the state.
   */
  apply(message: MapMessage | DeltaMessage): MapDiff {
    try {
      return message.type === "map" ? this.applyMap(message) : this.applyDelta(message);
    } catch (error) {
      this.usable = false;
      throw error;
    }
  }

  private current(): NetworkMap {
    if (this.map === undefined) throw new Error("MapState: no map yet");
    return this.map;
  }

  private applyMap(message: MapMessage): MapDiff {
    const next = message.map;
    const diff = emptyDiff(message.seq, true);
    const before = this.map;
    const incoming = new Map<number, PeerView>();
    for (const peer of next.peers) incoming.set(peer.id, peer);
    for (const [id, old] of this.peersById) recordPeer(diff, old, incoming.get(id));
    for (const [id, peer] of incoming) {
      if (!this.peersById.has(id)) recordPeer(diff, undefined, peer);
    }
    if (before !== undefined) {
      diff.selfChanged = changedFields(before.self, next.self);
      diff.filterChanged = !sameJson(before.filter, next.filter);
      diff.sshChanged = !sameJson(before.ssh, next.ssh);
      diff.relaysChanged = !sameJson(before.relays, next.relays);
      diff.tokenChanged = !sameJson(before.token, next.token);
      diff.domainChanged = before.domain !== next.domain;
    } else {
      diff.selfChanged = [];
      diff.filterChanged = diff.sshChanged = diff.relaysChanged = true;
      diff.tokenChanged = diff.domainChanged = true;
    }
    this.map = { ...next, peers: [] };
    this.peersById.clear();
    this.byKey.clear();
    this.byName.clear();
    this.index(next.self, "map.self");
    next.peers.forEach((peer, i) => {
      this.peersById.set(peer.id, peer);
      this.index(peer, `map.peers[${i}]`);
    });
    this.sessionId = message.session;
    this.seqValue = message.seq;
    this.cursorValue = message.cursor;
    this.usable = true;
    return diff;
  }

  private applyDelta(message: DeltaMessage): MapDiff {
    const map = this.map;
    if (map === undefined || !this.usable) {
      throw new ControlProtocolError("type", "a delta before a full map");
    }
    if (message.seq !== this.seqValue + 1)
      throw new SequenceGapError(this.seqValue + 1, message.seq);
    // The state of every node this delta touches, as it was before (first touch wins).
    const before = new Map<number, PeerView | undefined>();
    const touch = (id: number) => {
      if (!before.has(id)) before.set(id, this.peersById.get(id));
    };
    for (const id of message.peersRemoved ?? []) {
      const old = this.peersById.get(id);
      if (old === undefined) continue;
      touch(id);
      this.unindex(old);
      this.peersById.delete(id);
    }
    const selfBefore = map.self;
    if (message.self !== undefined) {
      if (message.self.id !== selfBefore.id) {
        throw new ControlProtocolError(
          "self.id",
          `${message.self.id} is not this node's id ${selfBefore.id}`,
        );
      }
      // Unindexed before the upserts, so that a peer may take this node's old name.
      this.unindex(selfBefore);
    }
    const upserted = message.peersUpserted ?? [];
    upserted.forEach((peer, i) => {
      if (peer.id === map.self.id) {
        throw new ControlProtocolError(
          `peersUpserted[${i}].id`,
          `${peer.id} is this node's own id`,
        );
      }
      touch(peer.id);
      const old = this.peersById.get(peer.id);
      if (old !== undefined) this.unindex(old);
    });
    upserted.forEach((peer, i) => {
      this.peersById.set(peer.id, peer);
      this.index(peer, `peersUpserted[${i}]`);
    });
    if (this.peersById.size > CONTROL_LIMITS.peers) {
      throw new ControlProtocolError(
        "peersUpserted",
        `the map would hold ${this.peersById.size} peers, over the limit of ${CONTROL_LIMITS.peers}`,
      );
    }
    if (message.self !== undefined) {
      map.self = message.self;
      this.index(message.self, "self");
    }
    for (const patch of message.patches ?? []) {
      const isSelf = patch.id === map.self.id;
      const old = isSelf ? map.self : this.peersById.get(patch.id);
      if (old === undefined) continue;
      const patched: PeerView = { ...old };
      if (patch.online !== undefined) patched.online = patch.online;
      if (patch.lastSeen !== undefined) patched.lastSeen = patch.lastSeen;
      if (patch.endpoints !== undefined) patched.endpoints = patch.endpoints;
      if (patch.homeRelay !== undefined) patched.homeRelay = patch.homeRelay;
      if (isSelf) map.self = patched;
      else {
        touch(patch.id);
        this.peersById.set(patch.id, patched);
      }
    }
    const diff = emptyDiff(message.seq, false);
    for (const [id, old] of before) recordPeer(diff, old, this.peersById.get(id));
    diff.selfChanged = changedFields(selfBefore, map.self);
    if (message.filter !== undefined) {
      diff.filterChanged = !sameJson(map.filter, message.filter);
      map.filter = message.filter;
    }
    if (message.ssh !== undefined) {
      diff.sshChanged = !sameJson(map.ssh, message.ssh);
      map.ssh = message.ssh;
    }
    if (message.relays !== undefined) {
      diff.relaysChanged = !sameJson(map.relays, message.relays);
      map.relays = message.relays;
    }
    if (message.token !== undefined) {
      diff.tokenChanged = !sameJson(map.token, message.token);
      map.token = message.token;
    }
    this.seqValue = message.seq;
    if (message.cursor !== undefined) this.cursorValue = message.cursor;
    return diff;
  }

  /** Indexes a node by key (peers only) and name; refuses a key or name another node holds. */
  private index(view: PeerView, path: string): void {
    const name = view.name.toLowerCase();
    const holder = this.byName.get(name);
    if (holder !== undefined && holder !== view.id) {
      throw new ControlProtocolError(
        `${path}.name`,
        `"${view.name}" is the name of node ${holder}`,
      );
    }
    const keyHolder = this.byKey.get(view.key);
    if (keyHolder !== undefined && keyHolder !== view.id) {
      throw new ControlProtocolError(`${path}.key`, `${view.key} is the key of node ${keyHolder}`);
    }
    this.byName.set(name, view.id);
    // This node's own key is indexed too, so that no peer can take it; peerByKey hides it.
    this.byKey.set(view.key, view.id);
  }

  private unindex(view: PeerView): void {
    if (this.byName.get(view.name.toLowerCase()) === view.id)
      this.byName.delete(view.name.toLowerCase());
    if (this.byKey.get(view.key) === view.id) this.byKey.delete(view.key);
  }
}
