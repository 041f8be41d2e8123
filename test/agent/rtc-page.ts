// "The page" for tests of the agent's WebRTC side: a node made of the worker pieces the browser
// engine runs (MeshPlane; a ControlClient taking signals; a PathBind over the relays with
// DirectBinds(ChannelBind, no UDP), the way worker/mesh/mesh-direct.ts makes a page's; an
// RtcSessions offering), with werift in the offer role standing in for the browser's
// RTCPeerConnection, bound to loopback.

import { weriftFactory } from "../../server/agent/rtc-werift.ts";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { nodeControlClient } from "../../server/mesh-links.ts";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import type { ControlClient } from "../../worker/control/client.ts";
import { initCrypto } from "../../worker/crypto/index.ts";
import { MeshPlane } from "../../worker/mesh/mesh-plane.ts";
import { ChannelBind, DirectBinds } from "../../worker/path/channel-bind.ts";
import { PathBind } from "../../worker/path/path-bind.ts";
import { RtcSessions } from "../../worker/path/rtc-sessions.ts";
import { PEER_PREFIX } from "../../worker/relay/endpoint.ts";
import { systemClock } from "../../worker/wireguard/clock.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";

/** The page's node. */
export interface Page {
  key: string;
  control: ControlClient;
  plane: MeshPlane;
  sessions: RtcSessions;
  channels: ChannelBind;
  paths: () => PathBind;
  /** Byes are not sent (a page that vanished says nothing). */
  dropByes: boolean;
  close(): Promise<void>;
}

/** Joins the mesh at `controlUrl` with `authKey` as a page ("browser" os); resolves at its first map. */
export async function startPage(controlUrl: string, authKey: string): Promise<Page> {
  const privateKey = generatePrivateKey();
  const publicKey = await nodeX25519.publicKey(privateKey);
  const core = await initCrypto();
  const channels = new ChannelBind();
  let paths: PathBind | undefined;
  let ids = 0;
  const out = { key: keyToBase64(publicKey), dropByes: false, channels } as Page;
  out.sessions = new RtcSessions({
    role: "offer",
    factory: weriftFactory({ role: "offer", loopback: true, interfaceAddress: "127.0.0.1" }),
    signal: (signal) => (signal.kind === "bye" && out.dropByes) || out.control.signal(signal),
    iceServers: () => [],
    clock: systemClock,
    randomId: () => `page-attempt-${++ids}`,
    maxChannels: 8,
    eligible: (key) => out.control.map.peerByKey(key)?.online === true,
    onOpen: (key, channel) => {
      channels.attach(key, channel);
      paths?.channelOpened(key);
    },
    onDatagram: (key, packet) => channels.receive(key, packet),
    onClosed: (key, channel) => {
      channels.detach(key, channel);
      paths?.channelClosed(key);
    },
  });
  out.plane = new MeshPlane({
    privateKey,
    core,
    x25519: nodeX25519,
    relayConnect: nodeRelayConnect(),
    relayBackoffBaseMs: 20,
    relayBackoffMaxMs: 200,
    wrapBind: (relays) => {
      paths = new PathBind({
        relay: relays,
        direct: new DirectBinds(channels, undefined),
        privateKey,
        publicKey,
        x25519: nodeX25519,
        clock: systemClock,
        randomBytes: (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)),
        onRelaySend: (id) => out.sessions.want(id.slice(PEER_PREFIX.length)),
      });
      return paths;
    },
    onSynced: (map) => {
      paths?.setPeers(map.peers);
      out.sessions.retain(new Set(map.peers.map((p) => p.key)));
    },
  });
  out.paths = () => {
    if (paths === undefined) throw new Error("page: no map yet");
    return paths;
  };
  out.control = nodeControlClient({
    controlUrl,
    privateKey,
    core,
    authKey,
    hostname: "page",
    os: "browser",
    onMap: (state) => void out.plane.apply(state.snapshot()).catch(() => {}),
    onSignal: (message) => out.sessions.onSignal(message),
  });
  out.close = async () => {
    out.sessions.close();
    out.control.close();
    await out.plane.close();
  };
  await out.control.start();
  await out.plane.settled();
  return out;
}
