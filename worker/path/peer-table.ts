// PathBind's bookkeeping (docs/paths.md): one entry per peer of the map, with its candidate
// UDP endpoints (those the map reports, and sources a verified ping came from), an index from
// UDP endpoint to peer for receiving, and the one "peer:<key>" Endpoint object per peer that
// the device is always given. Bounded: at most MAX_CANDIDATES endpoints per peer.
//
// The index holds only endpoints a probe has proven to be that peer (a verified ping from it,
// or a pong from it to our ping), never what a map merely claims: two peers on different LANs
// may both report 192.168.1.5:51820, and a datagram from the one on ours must not be handed to
// the device as the other (the device would then send that peer's packets to the wrong one).

import type { PeerView } from "../control/types.ts";
import { PEER_PREFIX, peerEndpoint } from "../relay/endpoint.ts";
import type { Endpoint } from "../wireguard/bind.ts";
import { keyFromBase64 } from "../wireguard/keys.ts";
import type { CandidateState } from "./path-choice.ts";

/** Candidate endpoints kept per peer. */
export const MAX_CANDIDATES = 8;

/** One UDP endpoint of a peer. */
export interface Candidate extends CandidateState {
  endpoint: Endpoint;
  /** From the map (kept while the map lists it) or learned from a verified ping. */
  fromMap: boolean;
}

/** What PathBind knows of one peer. */
export interface PeerPath {
  /** The "peer:<key>" endpoint the device addresses the peer by (one object per peer). */
  relayEndpoint: Endpoint;
  publicKey: Uint8Array;
  /** The probe MAC key, once derived (probes wait for it). */
  macKey: Uint8Array | undefined;
  candidates: Map<string, Candidate>;
  /** The direct endpoint chosen (see path-choice.ts); used while trusted. */
  best: Candidate | undefined;
  relayRtt: number | null;
  nextProbeAt: number;
  /** Probe rounds in a row without a working direct endpoint (drives the backoff). */
  unanswered: number;
  pongWindowStart: number;
  pongsInWindow: number;
}

/** The peers PathBind probes, by "peer:<key>". */
export class PeerTable {
  private readonly peers = new Map<string, PeerPath>();
  private readonly byEndpoint = new Map<string, PeerPath>();
  private readonly relayEndpoints = new Map<string, Endpoint>();

  constructor(
    /** Parses a reported endpoint for the direct Bind; undefined: no direct Bind. */
    private readonly parseDirect: ((text: string) => Endpoint) | undefined,
  ) {}

  get(id: string): PeerPath | undefined {
    return this.peers.get(id);
  }

  /** The peer one of whose candidates is the UDP endpoint `key`. */
  byUdp(key: string): PeerPath | undefined {
    return this.byEndpoint.get(key);
  }

  values(): IterableIterator<PeerPath> {
    return this.peers.values();
  }

  /** The one "peer:<key>" Endpoint object for `id` (bounded cache). */
  relayEndpointOf(id: string): Endpoint {
    const known = this.relayEndpoints.get(id);
    if (known !== undefined) return known;
    if (this.relayEndpoints.size >= 4096) this.relayEndpoints.clear();
    const made = peerEndpoint(id.slice(PEER_PREFIX.length));
    this.relayEndpoints.set(id, made);
    return made;
  }

  /**
   * Brings the table to the map's peers (all but `selfKey`): new peers are added (and passed to
   * `added`), gone ones removed; a peer whose reported endpoints changed is due for probing.
   */
  sync(
    views: readonly PeerView[],
    selfKey: string,
    now: number,
    added: (id: string, peer: PeerPath) => void,
  ): void {
    const seen = new Set<string>();
    for (const view of views) {
      if (view.key === selfKey) continue;
      const id = PEER_PREFIX + view.key;
      let peer = this.peers.get(id);
      if (peer === undefined) {
        let publicKey: Uint8Array;
        try {
          publicKey = keyFromBase64(view.key);
        } catch {
          continue; // DeviceSync reports malformed keys; nothing to probe
        }
        peer = this.newPeer(id, publicKey, now);
        added(id, peer);
      }
      seen.add(id);
      if (this.updateCandidates(peer, view.endpoints)) {
        peer.nextProbeAt = now;
        peer.unanswered = 0;
      }
    }
    for (const id of [...this.peers.keys()]) if (!seen.has(id)) this.remove(id);
  }

  /** Forgets a peer and its endpoints. */
  remove(id: string): void {
    const peer = this.peers.get(id);
    if (peer === undefined) return;
    this.peers.delete(id);
    for (const key of peer.candidates.keys()) this.forgetEndpoint(key, peer);
  }

  /**
   * Adds a candidate (a learned one takes the place of an unused learned one when the peer is
   * full); undefined when there is no room.
   */
  addCandidate(peer: PeerPath, endpoint: Endpoint, fromMap: boolean): Candidate | undefined {
    if (peer.candidates.size >= MAX_CANDIDATES) {
      for (const [key, c] of peer.candidates) {
        if (c.fromMap || c.channel === true || c === peer.best) continue;
        peer.candidates.delete(key);
        this.forgetEndpoint(key, peer);
        break;
      }
      if (peer.candidates.size >= MAX_CANDIDATES) return undefined;
    }
    const candidate: Candidate = {
      key: endpoint.key,
      endpoint,
      lastPong: Number.NEGATIVE_INFINITY,
      rttMs: null,
      fromMap,
    };
    peer.candidates.set(endpoint.key, candidate);
    return candidate;
  }

  /**
   * The peer's data channel opened (channel-bind.ts): a candidate that is never evicted and that
   * the map does not touch; undefined when the peer has no room (8 pinned candidates).
   */
  addChannel(peer: PeerPath, endpoint: Endpoint): Candidate | undefined {
    const known = peer.candidates.get(endpoint.key);
    if (known !== undefined) return known;
    const candidate = this.addCandidate(peer, endpoint, false);
    if (candidate !== undefined) candidate.channel = true;
    return candidate;
  }

  /** Forgets one candidate of `peer` (a data channel that closed); true when it was there. */
  removeCandidate(peer: PeerPath, key: string): boolean {
    const candidate = peer.candidates.get(key);
    if (candidate === undefined) return false;
    peer.candidates.delete(key);
    this.forgetEndpoint(key, peer);
    if (peer.best === candidate) peer.best = undefined;
    return true;
  }

  /** A probe proved that datagrams from `candidate` come from `peer`: deliver them as its. */
  confirm(peer: PeerPath, candidate: Candidate): void {
    if (peer.candidates.get(candidate.key) === candidate) this.byEndpoint.set(candidate.key, peer);
  }

  private newPeer(id: string, publicKey: Uint8Array, now: number): PeerPath {
    const peer: PeerPath = {
      relayEndpoint: this.relayEndpointOf(id),
      publicKey,
      macKey: undefined,
      candidates: new Map(),
      best: undefined,
      relayRtt: null,
      nextProbeAt: now,
      unanswered: 0,
      pongWindowStart: Number.NEGATIVE_INFINITY,
      pongsInWindow: 0,
    };
    this.peers.set(id, peer);
    return peer;
  }

  /** Brings the map's candidates to `texts`, keeping learned ones; true when they changed. */
  private updateCandidates(peer: PeerPath, texts: readonly string[]): boolean {
    const parse = this.parseDirect;
    if (parse === undefined) return false;
    const wanted = new Map<string, Endpoint>();
    for (const text of texts) {
      if (wanted.size >= MAX_CANDIDATES) break;
      try {
        const endpoint = parse(text);
        wanted.set(endpoint.key, endpoint);
      } catch {
        // An endpoint this socket cannot reach (another family, a name): skip it.
      }
    }
    let changed = false;
    for (const [key, c] of peer.candidates) {
      if (!c.fromMap || wanted.has(key)) continue;
      peer.candidates.delete(key);
      this.forgetEndpoint(key, peer);
      if (peer.best === c) peer.best = undefined;
      changed = true;
    }
    for (const [key, endpoint] of wanted) {
      const known = peer.candidates.get(key);
      if (known !== undefined) {
        known.fromMap = true;
        continue;
      }
      // Map endpoints take precedence over learned ones for the slots.
      if (this.addCandidate(peer, endpoint, true) !== undefined) changed = true;
    }
    return changed;
  }

  private forgetEndpoint(key: string, peer: PeerPath): void {
    if (this.byEndpoint.get(key) === peer) this.byEndpoint.delete(key);
  }
}
