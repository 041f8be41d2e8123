// Child process of the load rig: one relay (server/relay, startRelay) on 127.0.0.1 that admits
// only nodes with a token signed by the control servers (auth "token" with their public key,
// setup.controlPublicKey): the maps list several relays, so the tokens name any relay ("*",
// server/control/tokens.ts). Run apart from the simulated nodes and the control servers so that
// its CPU and RSS are its own. The caps meant for the Internet are lifted (every simulated node
// comes from 127.0.0.1, and thousands connect at once); the per-client rate limit and queues
// keep the relay's defaults. Talks to the parent over IPC (protocol.ts): "ready" once listening,
// then rss (after a forced GC under --expose-gc, with the authenticated clients) and exit.

import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { startRelay } from "../../server/relay/index.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import type {
  RelayServerReady,
  RelayServerReply,
  RelayServerRequest,
  RelayServerSetup,
} from "./protocol.ts";

const setup = JSON.parse(process.argv[2] ?? "{}") as RelayServerSetup;
const privateKey = generatePrivateKey();
const relay = await startRelay({
  auth: {
    mode: "token",
    controlPublicKey: new Uint8Array(Buffer.from(setup.controlPublicKey, "base64")),
  },
  relayId: setup.relayId,
  region: "local",
  privateKey,
  host: "127.0.0.1",
  log: () => {},
  maxConnections: 1_000_000,
  maxUnauthenticated: 1_000_000,
  maxConnectionsPerAddress: 1_000_000,
  maxUnauthenticatedPerAddress: 1_000_000,
  // A loaded machine may answer the hello late; that is the rig's lag, not the relay's.
  helloTimeoutMs: 30_000,
  closeGraceMs: 500,
});

const reply = (message: RelayServerReply | RelayServerReady) => process.send?.(message);
process.on("message", (raw) => {
  const request = raw as RelayServerRequest;
  switch (request.op) {
    case "rss": {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      const { rss, heapUsed } = process.memoryUsage();
      reply({ id: request.id, ok: true, op: "rss", rss, heapUsed, clients: relay.clientCount });
      return;
    }
    case "exit":
      relay.close().then(
        () => {
          reply({ id: request.id, ok: true, op: "exit" });
          process.disconnect?.();
          process.exit(0);
        },
        (error: unknown) => {
          reply({ id: request.id, ok: false, error: String(error) });
          process.exit(1);
        },
      );
      return;
  }
});
process.on("disconnect", () => process.exit(0));
reply({
  type: "ready",
  url: relay.url,
  key: keyToBase64(await nodeX25519.publicKey(privateKey)),
  pid: process.pid,
});
