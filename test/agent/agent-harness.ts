// For the agent's tests: a control server and its relay in this process, on the system clock
// (the agents are real `corridor agent` processes, whose clocks no test can move), listening on
// a given address (loopback, or the lab's bridge address that network namespaces reach); its
// HTTP API driven as the owner would, with an API key; and `corridor agent` processes whose
// output is read as it comes (wait for a line, never sleep). The SQLite store lives in a temp
// folder that a control-server restart keeps.

import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApiKeyLocal } from "../../server/control/auth/apikeys.ts";
import { type Control, startControl } from "../../server/control/index.ts";
import { openStore } from "../../server/control/store/open.ts";
import type { Store } from "../../server/control/store/types.ts";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { createLogger } from "../../server/log.ts";
import { type RelayServer, startRelay } from "../../server/relay/relay-server.ts";
import { initCrypto } from "../../worker/crypto/index.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { reservedPort } from "../helpers/ports.ts";
import { ownerApi, startControlFront } from "./control-http-harness.ts";

export const corridorBin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

/** An API answer: status and parsed JSON body. */
export interface ApiReply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers
  json: any;
}

/** Options of startAgentMesh. */
export interface AgentMeshOptions {
  /** Where the HTTP server and the relay listen (default 127.0.0.1). */
  host?: string;
  /** How long an ephemeral node outlives its stream (default: the server's 2 minutes). */
  ephemeralGraceMs?: number;
}

/** One line the control server logged (pino JSON, parsed). */
export type LogLine = Record<string, unknown> & { event?: string };

/** A control server with its relay, and the owner's API. */
export interface AgentMesh {
  /** http://HOST:PORT (no trailing slash): what `corridor agent --server` takes. */
  baseUrl: string;
  control: Control;
  store: Store;
  /** What the control server logged (info and up), oldest first. */
  log: LogLine[];
  api(method: string, path: string, body?: unknown): Promise<ApiReply>;
  /** A new auth key (POST /api/v1/authkeys as the owner). */
  authKey(body?: { ephemeral?: boolean; reusable?: boolean; tags?: string[] }): Promise<string>;
  /** PUT /api/v1/policy as the owner; throws with the server's answer unless accepted. */
  setPolicy(text: string): Promise<void>;
  /** The owner's view of the nodes (GET /api/v1/nodes). */
  nodes(): Promise<
    { id: number; name: string; key: string; hostname: string; addresses: string[] }[]
  >;
  /** Stops the map side and the API (the relay keeps running); startControl again with restart(). */
  stopControl(): Promise<void>;
  /** Closes the relay (telling clients to come back) and starts it again on the same port and key. */
  restartRelay(): Promise<void>;
  /** Starts the map side and API again on the same store, port and relay. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a control server and relay on `host`. */
export async function startAgentMesh(options: AgentMeshOptions = {}): Promise<AgentMesh> {
  const host = options.host ?? "127.0.0.1";
  const dir = mkdtempSync(join(tmpdir(), "corridor-agent-mesh-"));
  const cleanup: (() => Promise<void> | void)[] = [
    () => rmSync(dir, { recursive: true, force: true }),
  ];
  const close = async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  };
  try {
    const dbPath = join(dir, "control.db");
    let store = await openStore(dbPath);
    const owner = await store.createUser({
      issuer: "corridor:local",
      subject: "owner",
      email: "owner@example.com",
      name: "owner",
      role: "owner",
      lastLoginAt: null,
    });
    const apiKey = (await createApiKeyLocal(store, owner.id)).key;
    const relayPort = await reservedPort(host);
    const relayPrivate = generatePrivateKey();
    const relayKey = keyToBase64(await nodeX25519.publicKey(relayPrivate));
    let control: Control | undefined;
    const front = await startControlFront(host);
    cleanup.push(() => front.close());
    const baseUrl = front.baseUrl;
    const logLines: LogLine[] = [];
    const log = createLogger({
      level: "info",
      sink: (line) => {
        logLines.push(JSON.parse(line) as LogLine);
      },
    });
    const startMap = async () => {
      control = await startControl({
        store,
        relays: [
          { id: "default", region: "lab", url: `ws://${host}:${relayPort}/relay`, key: relayKey },
        ],
        baseUrl: `${baseUrl}/`,
        crypto: await initCrypto(),
        ephemeralGraceMs: options.ephemeralGraceMs,
        log,
      });
      front.serve(control);
    };
    await startMap();
    const openRelay = () =>
      startRelay({
        auth: { mode: "token", controlPublicKey: control!.tokenPublicKey },
        relayId: "default",
        host,
        port: relayPort,
        privateKey: relayPrivate,
        log: () => {},
        closeGraceMs: 100,
      });
    let relay: RelayServer = await openRelay();
    cleanup.push(() => relay.close());
    let mapRunning = true;
    const stopControl = async () => {
      if (!mapRunning) return;
      mapRunning = false;
      front.serve(null);
      await control?.close();
      await store.close();
    };
    cleanup.push(stopControl);

    const api: AgentMesh["api"] = ownerApi(baseUrl, apiKey, { throwOnServerError: true });
    return {
      baseUrl,
      get control() {
        if (control === undefined) throw new Error("control server not running");
        return control;
      },
      get store() {
        return store;
      },
      log: logLines,
      api,
      async authKey(body = {}) {
        const reply = await api("POST", "/api/v1/authkeys", body);
        if (reply.status !== 201)
          throw new Error(`auth key refused: ${JSON.stringify(reply.json)}`);
        return reply.json.key as string;
      },
      async setPolicy(text) {
        const reply = await api("PUT", "/api/v1/policy", { text });
        if (reply.status !== 200) throw new Error(`policy refused: ${JSON.stringify(reply.json)}`);
      },
      async nodes() {
        const reply = await api("GET", "/api/v1/nodes");
        if (reply.status !== 200) throw new Error(`nodes: ${JSON.stringify(reply.json)}`);
        return reply.json.nodes;
      },
      stopControl,
      async restartRelay() {
        // As `corridor relay` does on SIGTERM: clients are told to come back, then it closes.
        await relay.close({ restarting: { reconnectInMs: 200, tryForMs: 30_000 } });
        relay = await openRelay();
      },
      async restart() {
        await stopControl();
        store = await openStore(dbPath);
        await startMap();
        mapRunning = true;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** A `corridor agent` (or any `corridor` command) process and what it printed so far. */
export class CorridorProcess {
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcessWithoutNullStreams;
  private waiters: (() => void)[] = [];

  /**
   * Runs `corridor ARGS`, inside network namespace `netns` when given, behind `wrap` (a command
   * prefix such as setpriv's) when given.
   */
  constructor(
    args: string[],
    options: { netns?: string; env?: Record<string, string>; wrap?: string[] } = {},
  ) {
    const argv = [...(options.wrap ?? []), process.execPath, corridorBin, ...args];
    const [command, ...rest] =
      options.netns === undefined ? argv : ["ip", "netns", "exec", options.netns, ...argv];
    this.child = spawn(command!, rest, {
      stdio: "pipe",
      env: { ...process.env, CORRIDOR_AUTH_KEY: "", ...options.env },
    });
    this.child.stdin.end();
    this.exited = new Promise((resolve) => this.child.once("close", resolve));
    this.child.stdout.on("data", (d: Buffer) => {
      this.stdout += d.toString();
      this.wake();
    });
    this.child.stderr.on("data", (d: Buffer) => {
      this.stderr += d.toString();
      this.wake();
    });
    void this.exited.then(() => this.wake());
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** The first match of `pattern` in stdout (or stderr); rejects if the process ends first. */
  async waitFor(pattern: RegExp, stream: "stdout" | "stderr" = "stdout"): Promise<RegExpExecArray> {
    for (;;) {
      const match = pattern.exec(this[stream]);
      if (match !== null) return match;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `exited (${this.child.exitCode}) before printing ${pattern}:\n${this.stdout}\n${this.stderr}`,
        );
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Sends `signal` (default SIGTERM), then resolves with the exit status. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}
