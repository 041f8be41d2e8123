// What the engine's tests in Node against a real host share (engine, files): a wireguard-go
// host whose one peer is our node, OpenSSH's sshd in its namespace, a relay whose UDP bridge
// may reach only that host, and an engine (memory store) that has imported the host's
// wg-quick network as "lab", not persisted, just as the page would.

import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { startRelay } from "../../server/relay/index.ts";
import { UdpBridge } from "../../server/relay/udp-bridge.ts";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import type { EngineApi } from "../../worker/api.ts";
import { MemoryStore } from "../../worker/engine/store.ts";
import { createEngine } from "../../worker/engine.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { check, type Prereq, prereq } from "../helpers/prereq.ts";
import { ourWgConfigText } from "../interop/our-wg-config.ts";
import { createWgHost, type WgHost, wgHostPrereq } from "../interop/wg-host.ts";
import { type SshServer, sshdPrereq, startSshd } from "../ssh/fixtures/servers.ts";

/** A wireguard-go host and sshd: what an engine lab needs of this machine. */
export function engineLabPrereq(): Prereq {
  return prereq(
    ...[...wgHostPrereq().missing, ...sshdPrereq.missing].map((what) => check(what, false)),
  );
}

/** The network the engine imported, as importNetwork answered. */
export type LabNetwork = Awaited<ReturnType<EngineApi["importNetwork"]>>;

/** A running engine lab; closeEngineLab stops it. */
export interface EngineLab {
  /** Our node's WireGuard key (the host's one peer). */
  privateKey: Uint8Array;
  host: WgHost;
  /** sshd on port 22 of the host's tunnel address. */
  sshd: SshServer;
  relay: Awaited<ReturnType<typeof startRelay>>;
  engine: EngineApi;
  /** The host's network "lab" in `engine`, not persisted. */
  network: LabNetwork;
}

/**
 * Starts the host, sshd in its namespace, the relay `relayId` (open, no logs) and the engine,
 * and imports the network. What started is stopped again if a later step fails, so a test's
 * afterAll has only the finished lab to close.
 */
export async function startEngineLab(relayId: string): Promise<EngineLab> {
  const privateKey = generatePrivateKey();
  const host = await createWgHost({
    peer: {
      publicKey: keyToBase64(await nodeX25519.publicKey(privateKey)),
      allowedIps: "100.64.0.1/32",
    },
  });
  let sshd: SshServer | undefined;
  let relay: EngineLab["relay"] | undefined;
  try {
    sshd = await startSshd({ netns: host.namespace, listen: host.tunnelAddress, port: 22 });
    relay = await startRelay({
      auth: { mode: "open" },
      relayId,
      udpBridge: new UdpBridge({ allow: [`${host.hostAddress}/32:${host.listenPort}`] }),
      log: () => {},
    });
    const engine = createEngine({
      store: new MemoryStore(),
      connect: nodeRelayConnect(),
      x25519: nodeX25519,
      defaultRelayUrl: relay.url,
    });
    const network = await engine.importNetwork(ourWgConfigText(privateKey, host), {
      name: "lab",
      persist: false,
    });
    return { privateKey, host, sshd, relay, engine, network };
  } catch (error) {
    await closeEngineLab({ relay, sshd, host });
    throw error;
  }
}

/** Stops what of a lab there is: the relay, then sshd, then the host and its namespaces. */
export async function closeEngineLab(lab: Partial<EngineLab> | undefined): Promise<void> {
  await lab?.relay?.close();
  await lab?.sshd?.stop();
  await lab?.host?.close();
}
