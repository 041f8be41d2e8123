// A WireGuard engine with its IP interface, in Node: what `corridor ping` and `corridor nc`
// run on. The engine talks UDP straight to the peers of a wg-quick file.

import { NetInterface } from "../worker/net/interface.ts";
import { systemClock } from "../worker/wireguard/clock.ts";
import { type EngineTransport, startWgEngine, type WgEngine } from "./wg-engine.ts";

/** An engine and its interface. */
export interface MeshNet {
  engine: WgEngine;
  net: NetInterface;
  close(): Promise<void>;
}

/** Starts the engine of a wg-quick file with an IP interface on its Address lines. */
export async function startMeshNet(
  configPath: string,
  transport: EngineTransport = {},
): Promise<MeshNet> {
  const engine = await startWgEngine(configPath, transport);
  const addresses = engine.config.interface.addresses;
  if (addresses.length === 0) {
    await engine.close();
    throw new Error(`${configPath}: [Interface] has no Address; the tunnel needs one to send from`);
  }
  const net = new NetInterface({
    addresses,
    output: (packet) => {
      engine.device.send(packet);
    },
    clock: systemClock,
    randomBytes: (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)),
    mtu: engine.config.interface.mtu ?? 1420,
  });
  engine.setPacketHandler((packet) => net.receive(packet));
  return { engine, net, close: () => engine.close() };
}
