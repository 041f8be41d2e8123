// A WireGuard device in Node built from a wg-quick file: the engine talks UDP straight to
// each peer's Endpoint (host names resolved here, once). What `corridor ping` and
// `corridor nc` run on; the relay Bind comes with the relay.

import { readFile } from "node:fs/promises";
import { initCrypto } from "../worker/crypto/index.ts";
import { parseConfig, type WgConfig } from "../worker/wireguard/config.ts";
import { Device } from "../worker/wireguard/device.ts";
import { nodeX25519 } from "./crypto/x25519-node.ts";
import { resolveEndpoint, UdpBind } from "./udp-bind.ts";

/** A running device and the configuration it came from. */
export interface WgEngine {
  device: Device;
  config: WgConfig;
  bind: UdpBind;
  /** Where inner packets go (the IP interface); set it before traffic flows. */
  setPacketHandler(handler: (packet: Uint8Array, peerPublicKey: Uint8Array) => void): void;
  close(): Promise<void>;
}

/** Reads a wg-quick file and starts a device with its interface and peers. */
export async function startWgEngine(configPath: string): Promise<WgEngine> {
  const config = parseConfig(await readFile(configPath, "utf8"));
  return startWgEngineFrom(config);
}

/** Starts a device from a parsed configuration. */
export async function startWgEngineFrom(config: WgConfig): Promise<WgEngine> {
  const core = await initCrypto();
  // Bulk TCP through the tunnel overflows the default socket buffers (wireguard-go uses ~7 MiB).
  const bind = new UdpBind({
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
        endpoint: peer.endpoint === undefined ? undefined : await resolveEndpoint(peer.endpoint),
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
