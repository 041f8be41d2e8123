// A WireGuard device in Node built from a wg-quick file: the engine talks UDP straight to
// each peer's Endpoint (host names resolved here, once). What `corridor ping` and
// `corridor nc` run on; the relay Bind comes with the relay.

import { readFile } from "node:fs/promises";
import { initCrypto } from "../worker/crypto/index.ts";
import { RelayBind } from "../worker/relay/client.ts";
import type { Bind } from "../worker/wireguard/bind.ts";
import { parseConfig, type WgConfig } from "../worker/wireguard/config.ts";
import { Device } from "../worker/wireguard/device.ts";
import { keyToBase64 } from "../worker/wireguard/keys.ts";
import { nodeX25519 } from "./crypto/x25519-node.ts";
import { nodeRelayConnect } from "./relay/ws-node.ts";
import { resolveEndpoint, UdpBind } from "./udp-bind.ts";

/** How the engine reaches its peers: UDP from this host (default), or through a relay. */
export interface EngineTransport {
  /** A relay's WebSocket URL (ws://host:port/relay): peers without an Endpoint are reached by
   * key on the relay, stock hosts with an Endpoint through its UDP bridge. */
  relay?: string;
  /** A relay token from the control server, when the relay wants one. */
  token?: string;
}

/** A running device and the configuration it came from. */
export interface WgEngine {
  device: Device;
  config: WgConfig;
  bind: Bind;
  /** Where inner packets go (the IP interface); set it before traffic flows. */
  setPacketHandler(handler: (packet: Uint8Array, peerPublicKey: Uint8Array) => void): void;
  close(): Promise<void>;
}

/** Reads a wg-quick file and starts a device with its interface and peers. */
export async function startWgEngine(
  configPath: string,
  transport: EngineTransport = {},
): Promise<WgEngine> {
  const config = parseConfig(await readFile(configPath, "utf8"));
  return startWgEngineFrom(config, transport);
}

/** Starts a device from a parsed configuration. */
export async function startWgEngineFrom(
  config: WgConfig,
  transport: EngineTransport = {},
): Promise<WgEngine> {
  const core = await initCrypto();
  const bind: Bind = transport.relay
    ? new RelayBind({
        url: transport.relay,
        privateKey: config.interface.privateKey,
        core,
        x25519: nodeX25519,
        token: transport.token,
        connect: nodeRelayConnect(),
      })
    : // Bulk TCP through the tunnel overflows the default socket buffers (wireguard-go uses ~7 MiB).
      new UdpBind({
        port: config.interface.listenPort ?? 0,
        recvBufferSize: 4 << 20,
        sendBufferSize: 4 << 20,
      });
  let handler: (packet: Uint8Array, peerPublicKey: Uint8Array) => void = () => {};
  const device = await Device.create({
    privateKey: config.interface.privateKey,
    bind,
    core,
    x25519: nodeX25519,
    mtu: config.interface.mtu ?? 1420,
    onPacket: (packet, peer) => handler(packet, peer),
  });
  try {
    for (const peer of config.peers) {
      await device.addPeer({
        publicKey: peer.publicKey,
        presharedKey: peer.presharedKey,
        endpoint: await peerEndpoint(peer.endpoint, peer.publicKey, transport),
        allowedIps: peer.allowedIps,
        persistentKeepalive: peer.persistentKeepalive,
      });
    }
  } catch (error) {
    await device.close();
    throw error;
  }
  return {
    device,
    config,
    bind,
    setPacketHandler(next) {
      handler = next;
    },
    close: () => device.close(),
  };
}

/**
 * Where a peer is reached: its Endpoint resolved to an address (over UDP, or through the relay's
 * UDP bridge); without one, by its key on the relay (or nowhere yet over plain UDP).
 */
async function peerEndpoint(
  endpoint: string | undefined,
  publicKey: Uint8Array,
  transport: EngineTransport,
): Promise<string | undefined> {
  if (endpoint !== undefined) return (await resolveEndpoint(endpoint)).key;
  return transport.relay ? `peer:${keyToBase64(publicKey)}` : undefined;
}
