// A mesh node's platform-independent core as the browser engine runs it: the map stream's
// client, and the plane (mesh-plane.ts: the WireGuard device on the map's relays, the packet
// filter, the device's peers, the IP interface) brought to each map. Sockets and X25519 come in
// from the platform: the engine runs it on the Worker's WebSocket (worker/engine/mesh-runtime.ts),
// with the relay and, given `direct`, WebRTC data channels to agents (mesh-direct.ts; a page
// cannot send UDP). The agent's node (server/mesh-node.ts) runs the same plane with direct UDP.

import { ControlClient, type ControlClientState, type ControlRefusal } from "../control/client.ts";
import type { MapState } from "../control/map-state.ts";
import type { Hostinfo } from "../control/messages.ts";
import type { PacketFilter } from "../control/packet-filter.ts";
import type { ControlConnect } from "../control/socket.ts";
import type { RelayInfo } from "../control/types.ts";
import type { CryptoCore } from "../crypto/index.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import type { NetInterface } from "../net/interface.ts";
import type { RelayBind } from "../relay/client.ts";
import type { RelaySet } from "../relay/relay-set.ts";
import type { RelayConnect } from "../relay/socket.ts";
import { type Clock, systemClock } from "../wireguard/clock.ts";
import type { Device } from "../wireguard/device.ts";
import { MeshDirect, type MeshDirectOptions } from "./mesh-direct.ts";
import { MeshPlane } from "./mesh-plane.ts";

export { homeRelayOf } from "./mesh-plane.ts";

/** What a mesh core is made of. */
export interface MeshCoreOptions {
  /** The node's WireGuard private key (made by the caller; never sent anywhere). */
  privateKey: Uint8Array;
  core: CryptoCore;
  x25519: X25519Provider;
  /** The map stream ("wss://host/control") and how its socket is opened. */
  controlUrl: string;
  controlConnect: ControlConnect;
  /** How relay sockets are opened. */
  relayConnect: RelayConnect;
  /** What the node reports at login. */
  hostinfo: Hostinfo;
  /** Removed by the server when its map stream ends (browser tabs). */
  ephemeral?: boolean;
  /** Map stream reconnect backoff (the client's defaults when absent). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** The tunnel MTU (default 1420). */
  mtu?: number;
  clock?: Clock;
  /** Each map or delta applied to the device (or failed to apply: see `lastError`). */
  onChange?: () => void;
  /** The map stream's state changed. */
  onControlState?: (state: ControlClientState) => void;
  /** The server refused the node for good. */
  onRefused?: (refusal: ControlRefusal) => void;
  /** Direct paths over WebRTC (the page's RtcFactory); absent: the relay alone. */
  direct?: MeshDirectOptions;
}

/** One mesh node following the control server's map. */
export class MeshCore {
  /** The map stream's client (its `map` is the node's map). */
  readonly control: ControlClient;
  /** The WebRTC paths, when the options asked for them. */
  readonly direct: MeshDirect | undefined;
  /** The last map that could not be applied, and why. */
  lastError: Error | undefined;
  private readonly plane: MeshPlane;
  private closed = false;
  private publicKey: Uint8Array | undefined;

  constructor(private readonly options: MeshCoreOptions) {
    const clock = options.clock ?? systemClock;
    this.direct =
      options.direct === undefined
        ? undefined
        : new MeshDirect(options.direct, () => this.control, {
            privateKey: options.privateKey,
            publicKey: () => this.requirePublicKey(),
            x25519: options.x25519,
            clock,
          });
    const direct = this.direct;
    this.control = new ControlClient({
      url: options.controlUrl,
      privateKey: options.privateKey,
      core: options.core,
      x25519: options.x25519,
      connect: options.controlConnect,
      hostinfo: options.hostinfo,
      ephemeral: options.ephemeral,
      clock,
      backoffBaseMs: options.backoffBaseMs,
      backoffMaxMs: options.backoffMaxMs,
      onMap: (_diff, state) => this.follow(state, options.onChange),
      onState: options.onControlState,
      onRefused: options.onRefused,
      onSignal: direct === undefined ? undefined : (message) => direct.onSignal(message),
    });
    this.plane = new MeshPlane(
      {
        privateKey: options.privateKey,
        core: options.core,
        x25519: options.x25519,
        relayConnect: options.relayConnect,
        mtu: options.mtu,
        clock,
        onRelay: (relay) => this.control.update({ homeRelay: relay.id }),
        wrapBind: direct === undefined ? undefined : (relays) => direct.wrap(relays),
        onSynced: direct === undefined ? undefined : (map) => direct.synced(map),
      },
      "mesh",
    );
  }

  /**
   * Joins: resolves once the first map is applied (device up on the map's relay, filter and
   * peers in place); rejects when the server refuses the node or that map cannot be applied.
   */
  async start(): Promise<void> {
    // The path probes carry the public key; the first map (and wrap) comes after this.
    this.publicKey = await this.options.x25519.publicKey(this.options.privateKey);
    await this.control.start();
    await this.plane.settled();
    const relay = this.plane.relay;
    if (relay === undefined) throw this.lastError ?? new Error("mesh: no map applied");
    this.control.update({ homeRelay: relay.id });
  }

  /** The node's map. */
  get map(): MapState {
    return this.control.map;
  }

  /** The inbound packet filter. */
  get filter(): PacketFilter {
    return this.plane.filter;
  }

  /** The IP interface, once the first map came. */
  get net(): NetInterface | undefined {
    return this.plane.net;
  }

  /** The WireGuard device, once the first map came. */
  get device(): Device | undefined {
    return this.plane.device;
  }

  /** The home relay and its connection, once the first map came (the plane moves it). */
  get relay(): { info: RelayInfo; bind: RelayBind } | undefined {
    const info = this.plane.relay;
    const bind = this.plane.relayBind;
    return info === undefined || bind === undefined ? undefined : { info, bind };
  }

  /** Every relay connection (the home's and those to peers' homes), once the first map came. */
  get relays(): RelaySet | undefined {
    return this.plane.relays;
  }

  /**
   * Leaves: with `logout`, asks the server to remove the node now (false when it could not
   * confirm), then closes the stream, the relay connection and the device.
   */
  async close(logout: boolean): Promise<boolean> {
    if (this.closed) return false;
    this.closed = true;
    this.direct?.close();
    const confirmed = logout ? await this.control.logout() : false;
    this.control.close();
    await this.plane.close();
    return confirmed;
  }

  private requirePublicKey(): Uint8Array {
    if (this.publicKey === undefined) throw new Error("mesh: the node's public key before start");
    return this.publicKey;
  }

  private follow(state: MapState, onChange: (() => void) | undefined): void {
    this.plane.apply(state.snapshot()).then(
      () => {
        this.lastError = undefined;
        onChange?.();
      },
      (error: unknown) => {
        this.lastError = error instanceof Error ? error : new Error(String(error));
        onChange?.();
      },
    );
  }
}
