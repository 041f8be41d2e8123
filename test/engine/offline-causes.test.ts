// Why a wg-quick host is offline, as the engine reports it (issue 15, NetworkStatus.peers[].
// problem), in Node against a wireguard-go host in a namespace through a real relay and its
// UDP bridge: an endpoint outside the relay's --allow-udp (relay-refused, naming the flag),
// an allowed endpoint where nothing listens (unreachable: the host's kernel answers ICMP port
// unreachable), and the real host under a wrong public key (no-handshake: WireGuard drops an
// initiation it cannot authenticate, silently). The correctly configured network has none.

import { afterAll, beforeAll, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { startRelay } from "../../server/relay/index.ts";
import { UdpBridge } from "../../server/relay/udp-bridge.ts";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import type { EngineApi, NetworkStatus } from "../../worker/api.ts";
import { MemoryStore } from "../../worker/engine/store.ts";
import { createEngine } from "../../worker/engine.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import { createWgHost, type WgHost, wgHostPrereq } from "../interop/wg-host.ts";

/** A UDP port nothing in the host's namespace listens on (discard). */
const CLOSED_PORT = 9;
/** A documentation address (RFC 5737) the relay's list does not name. */
const NOT_ALLOWED = "192.0.2.1:51820";

type Problem = NetworkStatus["peers"][number]["problem"];

describeWithPrereq(wgHostPrereq(), "why a host is offline (engine, wireguard-go host)", () => {
  let host: WgHost;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let engine: EngineApi;
  let privateKey: Uint8Array;

  beforeAll(async () => {
    privateKey = generatePrivateKey();
    host = await createWgHost({
      prefix: "offc",
      peer: {
        publicKey: keyToBase64(await nodeX25519.publicKey(privateKey)),
        allowedIps: "100.64.0.1/32",
      },
    });
    relay = await startRelay({
      auth: { mode: "open" },
      relayId: "offline-causes",
      udpBridge: new UdpBridge({
        allow: [
          `${host.hostAddress}/32:${host.listenPort}`,
          `${host.hostAddress}/32:${CLOSED_PORT}`,
        ],
      }),
      log: () => {},
    });
    engine = createEngine({
      store: new MemoryStore(),
      connect: nodeRelayConnect(),
      x25519: nodeX25519,
      defaultRelayUrl: relay.url,
    });
  }, 60_000);

  afterAll(async () => {
    for (const n of (await engine?.listNetworks()) ?? []) await engine.removeNetwork(n.id);
    await relay?.close();
    await host?.close();
  });

  /**
   * Imports a network for the host with `endpoint` and the host's `publicKey`, started. Broken
   * ones get their own node key: networks sharing a key would replace each other on the relay.
   */
  async function network(
    name: string,
    endpoint: string,
    publicKey: string,
    key = generatePrivateKey(),
  ): Promise<string> {
    const text = [
      "[Interface]",
      `PrivateKey = ${keyToBase64(key)}`,
      "Address = 100.64.0.1/32",
      "[Peer]",
      `PublicKey = ${publicKey}`,
      `Endpoint = ${endpoint}`,
      `AllowedIPs = ${host.tunnelAddress}/32`,
      "",
    ].join("\n");
    const { id } = await engine.importNetwork(text, { name, persist: false });
    expect((await engine.startNetwork(id)).state).toBe("running");
    return id;
  }

  /** Pings the host (which makes the device try handshakes) until the peer shows a problem. */
  async function problemOf(id: string): Promise<Problem> {
    let problem: Problem;
    await waitUntil(() => problem !== undefined, `a problem on ${id}`, {
      everyMs: 200,
      hangAfterMs: 40_000,
      poll: async () => {
        await engine.pingHost(id, host.tunnelAddress, 500);
        problem = (await engine.networkStatus(id)).peers[0]?.problem;
      },
    });
    return problem;
  }

  it("tells the three causes apart, and a working network has none", async () => {
    const good = await network(
      "good",
      `${host.hostAddress}:${host.listenPort}`,
      host.publicKey,
      privateKey,
    );
    const wrongKey = keyToBase64(await nodeX25519.publicKey(generatePrivateKey()));
    const [refused, unreachable, silent] = await Promise.all([
      network("refused", NOT_ALLOWED, host.publicKey).then(problemOf),
      network("unreachable", `${host.hostAddress}:${CLOSED_PORT}`, host.publicKey).then(problemOf),
      network("wrong-key", `${host.hostAddress}:${host.listenPort}`, wrongKey).then(problemOf),
    ]);
    expect(refused).toEqual({
      kind: "relay-refused",
      message:
        "the relay does not allow this endpoint (start it with --allow-udp 192.0.2.1/32:51820)",
    });
    expect(unreachable?.kind).toBe("unreachable");
    expect(unreachable?.message).toMatch(
      new RegExp(`^no answer from the endpoint: nothing listens on ${host.hostAddress}:9 `),
    );
    expect(silent).toEqual({
      kind: "no-handshake",
      message:
        "the host does not answer our handshake: check its public key and that it has this browser's key",
    });
    expect(await engine.pingHost(good, host.tunnelAddress, 5000)).toBeTypeOf("number");
    expect((await engine.networkStatus(good)).peers[0]?.problem).toBeUndefined();
  }, 90_000);
});
