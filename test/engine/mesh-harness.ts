// For the engine's mesh tests: a real control server (SQLite in memory, the API and the map
// stream on one loopback HTTP server, browser sessions by cookie) with its relay, users alice
// (owner) and bob (member), engines made as the Worker makes them but on `ws` sockets that
// carry a session cookie and the page's Origin, and agents (server/agent/agent.ts, in this
// process) with their identity SSH server on port 22 of their mesh addresses.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent } from "../../server/agent/agent.ts";
import { createApiKeyLocal } from "../../server/control/auth/apikeys.ts";
import {
  createSessionUser,
  sessionCookieName,
  startSession,
} from "../../server/control/auth/sessions.ts";
import { nodeControlConnect } from "../../server/control/control-socket-node.ts";
import { type Control, startControl } from "../../server/control/index.ts";
import { openSqliteStore } from "../../server/control/store/sqlite.ts";
import type { Store, UserRecord } from "../../server/control/store/types.ts";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { createLogger } from "../../server/log.ts";
import { type RelayServer, startRelay } from "../../server/relay/relay-server.ts";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import type { EngineApi } from "../../worker/api.ts";
import { CONTROL_PATH } from "../../worker/control/messages.ts";
import { initCrypto } from "../../worker/crypto/index.ts";
import { MemoryStore } from "../../worker/engine/store.ts";
import { createEngine } from "../../worker/engine.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { ownerApi, startControlFront } from "../agent/control-http-harness.ts";
import { jsonString } from "../helpers/json.ts";
import { reservedPort } from "../helpers/ports.ts";

/** An API answer. */
export interface ApiReply {
  status: number;
  /** The parsed body; read it with the typed readers (jsonField, jsonString...). */
  json: unknown;
}

/** The running server side and what the tests make on it. */
export interface MeshTestbed {
  baseUrl: string;
  control: Control;
  store: Store;
  alice: UserRecord;
  bob: UserRecord;
  /** The owner's API (Bearer API key). */
  api(method: string, path: string, body?: unknown): Promise<ApiReply>;
  setPolicy(text: string): Promise<void>;
  /** A session cookie header for `userId` ("" for none). */
  cookie(userId: number): Promise<string>;
  /** Closes the map side (streams end with 1012, "come back") and starts it again. */
  restartControl(): Promise<void>;
  /** An engine whose map stream carries `cookie` (and the page's Origin). */
  engine(cookie: string, hostname?: string): EngineApi;
  /**
   * A userspace agent (tags via an owner's auth key) with identity SSH on port 22 unless
   * `sshPort` says otherwise (0: none, no host key published); ephemeral unless told (a stopped
   * ephemeral agent leaves the map, another one shows offline).
   */
  agent(
    name: string,
    tags: string[],
    options?: { ephemeral?: boolean; sshPort?: number },
  ): Promise<Agent>;
  close(): Promise<void>;
}

/** Starts the control server and relay on loopback. */
export async function startMeshTestbed(): Promise<MeshTestbed> {
  const cleanup: (() => Promise<unknown> | unknown)[] = [];
  const close = async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  };
  try {
    const store = await openSqliteStore(":memory:");
    cleanup.push(() => store.close());
    const user = (subject: string, role: "owner" | "member") =>
      store.createUser({
        issuer: "corridor:local",
        subject,
        email: `${subject}@example.com`,
        name: subject,
        role,
        lastLoginAt: null,
      });
    const alice = await user("alice", "owner");
    const bob = await user("bob", "member");
    const apiKey = (await createApiKeyLocal(store, alice.id)).key;
    const relayPort = await reservedPort("127.0.0.1");
    const relayPrivate = generatePrivateKey();
    const relayKey = keyToBase64(await nodeX25519.publicKey(relayPrivate));
    let control: Control | undefined;
    const front = await startControlFront("127.0.0.1");
    cleanup.push(() => front.close());
    const { port, baseUrl } = front;
    const crypto = await initCrypto();
    const startMap = () =>
      startControl({
        store,
        relays: [
          {
            id: "default",
            region: "lab",
            url: `ws://127.0.0.1:${relayPort}/relay`,
            key: relayKey,
          },
        ],
        baseUrl: `${baseUrl}/`,
        crypto,
        sessionUser: createSessionUser(store, { secure: false }),
        log: createLogger({ level: "silent" }),
      });
    control = await startMap();
    cleanup.push(() => control?.close());
    front.serve(control);
    const relay: RelayServer = await startRelay({
      auth: { mode: "token", controlPublicKey: control.tokenPublicKey },
      relayId: "default",
      host: "127.0.0.1",
      port: relayPort,
      privateKey: relayPrivate,
      log: () => {},
      closeGraceMs: 100,
    });
    cleanup.push(() => relay.close());
    const api: MeshTestbed["api"] = ownerApi(baseUrl, apiKey, { throwOnServerError: false });
    const engines: EngineApi[] = [];
    cleanup.push(async () => {
      for (const engine of engines.splice(0)) await engine.meshStop().catch(() => undefined);
    });
    const agents: Agent[] = [];
    cleanup.push(async () => {
      for (const agent of agents.splice(0)) await agent.stop();
    });
    return {
      baseUrl,
      get control() {
        if (control === undefined) throw new Error("the control server is restarting");
        return control;
      },
      store,
      alice,
      bob,
      api,
      async setPolicy(text) {
        const reply = await api("PUT", "/api/v1/policy", { text });
        if (reply.status !== 200) throw new Error(`policy refused: ${JSON.stringify(reply.json)}`);
      },
      async restartControl() {
        const old = control;
        control = undefined;
        front.serve(null);
        await old?.close();
        control = await startMap();
        front.serve(control);
      },
      async cookie(userId) {
        const session = await store.transaction((tx) => startSession(tx, userId, Date.now()));
        return `${sessionCookieName(false)}=${session.cookieValue}`;
      },
      engine(cookie, hostname = "test-tab") {
        const engine = createEngine({
          store: new MemoryStore(),
          connect: nodeRelayConnect(),
          x25519: nodeX25519,
          defaultRelayUrl: `ws://127.0.0.1:${port}/relay`,
          controlConnect: nodeControlConnect({
            headers: { Origin: baseUrl, ...(cookie === "" ? {} : { Cookie: cookie }) },
          }),
          meshHostname: hostname,
        });
        engines.push(engine);
        return engine;
      },
      async agent(name, tags, { ephemeral = true, sshPort = 22 } = {}) {
        const reply = await api("POST", "/api/v1/authkeys", { tags });
        if (reply.status !== 201) throw new Error(`auth key: ${JSON.stringify(reply.json)}`);
        const stateDir = mkdtempSync(join(tmpdir(), `corridor-engine-${name}-`));
        cleanup.push(() => rmSync(stateDir, { recursive: true, force: true }));
        const agent = await Agent.start({
          serverUrl: baseUrl,
          controlUrl: `ws://127.0.0.1:${port}${CONTROL_PATH}`,
          authKey: jsonString(reply.json, "key"),
          hostname: name,
          tags,
          ephemeral,
          stateDir,
          sshPort,
          expose: null,
          direct: { disabled: true },
          log: createLogger({ level: "silent" }),
        });
        agents.push(agent);
        await agent.joined;
        return agent;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
