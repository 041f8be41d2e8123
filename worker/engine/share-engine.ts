// Shares in the engine (worker/api/shares.ts): one node per accepted share, each a MeshRuntime
// with its own key. The key is made here and only its public half leaves: in the accept call,
// which registers the node on the control server, before the map stream logs in with it as a
// known key. The node's map holds the one shared device; the per-network calls reach it under
// the network id "share:<id>" through the same MeshEngine as the mesh (identity SSH, pings).
//
// Keys live in memory only, as the mesh node's do: the share's node is ephemeral (the server
// removes it two minutes after its map stream ends), so nothing worth keeping would survive
// the engine anyway; a reload while the engine runs finds the node still joined.

import type {
  MeshListener,
  ShareAcceptResult,
  ShareRefusal,
  ShareState,
  SharesApi,
} from "../api.ts";
import { SHARE_ID, shareNetworkId } from "../api.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import { generatePrivateKey, keyToBase64 } from "../wireguard/keys.ts";
import type { MeshEngine } from "./mesh-api.ts";
import { controlOrigin } from "./mesh-runtime.ts";

/** Largest accept answer read (a refusal's JSON; the success body is small too). */
const MAX_ANSWER_BYTES = 64 * 1024;

/** What the share engines need from the engine. */
export interface ShareEngineDeps {
  x25519: X25519Provider;
  /** The map stream's URL ("wss://host/control"); the API is at its origin. */
  controlUrl: string;
  /** A MeshEngine on a runtime that logs in with `privateKey` (mesh-parts.ts). */
  createEngine(privateKey: Uint8Array): MeshEngine;
  /** The accept call's fetch (default: globalThis.fetch, this origin's cookies included). */
  fetch?: typeof fetch;
  /** The host name the node reports in the accept call. */
  hostname: string;
}

interface Held {
  engine: MeshEngine;
  /** The join in progress or done. */
  joined: Promise<ShareState>;
}

/** The API's error body: `{"error": CODE, "message": SENTENCE}` (server/control/api/errors.ts). */
function refusalOf(status: number, text: string): ShareRefusal {
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    if (typeof body.error === "string" && typeof body.message === "string") {
      return { ok: false, status, code: body.error, message: body.message };
    }
  } catch {
    // not the API's JSON: said below
  }
  return {
    ok: false,
    status,
    code: "unexpected_answer",
    message: `the control server answered ${status} without saying why`,
  };
}

/** The engine's shares: a node per accepted share. */
export class ShareEngines {
  private readonly held = new Map<string, Held>();

  constructor(private readonly deps: ShareEngineDeps) {}

  /** The MeshEngine of a share this engine holds (for the per-network calls). */
  engineOf(shareId: string): MeshEngine {
    const held = this.held.get(shareId);
    if (held === undefined) {
      throw new Error(`this browser holds no share ${shareId}: open the share's link again`);
    }
    return held.engine;
  }

  /** The nodes of every share held (private URLs dial a shared device through them). */
  runtimes(): MeshEngine["runtime"][] {
    return [...this.held.values()].map((held) => held.engine.runtime);
  }

  /** The share calls of EngineApi. */
  calls(): SharesApi {
    return {
      shareAccept: (shareId, secret) => this.accept(shareId, secret),
      shareState: async (shareId) =>
        this.held.has(shareId) ? this.stateOf(shareId, this.held.get(shareId)!.engine) : null,
      listShareStates: async () =>
        [...this.held].map(([shareId, held]) => this.stateOf(shareId, held.engine)),
      watchShare: async (shareId: string, listener: MeshListener) =>
        this.engineOf(shareId).runtime.watch(listener),
      unwatchShare: async (shareId: string, id: string) => {
        this.held.get(shareId)?.engine.runtime.unwatch(id);
      },
      shareLeave: (shareId) => this.leave(shareId),
    };
  }

  private async accept(shareId: string, secret: string): Promise<ShareAcceptResult> {
    if (!SHARE_ID.test(shareId)) {
      return { ok: false, status: 0, code: "share_not_found", message: "not a share link's id" };
    }
    const running = this.held.get(shareId);
    if (running !== undefined) {
      const state = await running.joined;
      // A refused node (revoked, expired) is over: a new acceptance may be possible.
      if (state.status.state !== "refused") return { ok: true, state };
      await this.leave(shareId);
    }
    const privateKey = generatePrivateKey();
    const publicKey = keyToBase64(await this.deps.x25519.publicKey(privateKey));
    const refusal = await this.register(shareId, secret, publicKey);
    if (refusal !== null) return refusal;
    const engine = this.deps.createEngine(privateKey);
    const joined = engine.runtime.start().then(() => this.stateOf(shareId, engine));
    this.held.set(shareId, { engine, joined });
    return { ok: true, state: await joined };
  }

  /** The accept call; null when the server registered the node, else its refusal. */
  private async register(
    shareId: string,
    secret: string,
    nodeKey: string,
  ): Promise<ShareRefusal | null> {
    const url = `${controlOrigin(this.deps.controlUrl)}/api/v1/shares/${shareId}/accept`;
    const doFetch = this.deps.fetch ?? globalThis.fetch.bind(globalThis);
    let response: Response;
    try {
      response = await doFetch(url, {
        method: "POST",
        credentials: "include",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ secret, nodeKey, hostname: this.deps.hostname }),
      });
    } catch (error) {
      return {
        ok: false,
        status: 0,
        code: "unreachable",
        message: `cannot reach the control server: ${(error as Error).message}`,
      };
    }
    const text = (await response.text()).slice(0, MAX_ANSWER_BYTES);
    return response.ok ? null : refusalOf(response.status, text);
  }

  private stateOf(shareId: string, engine: MeshEngine): ShareState {
    const runtime = engine.runtime;
    const status = runtime.status();
    const hosts = status.state === "refused" ? [] : runtime.hosts();
    return { shareId, networkId: shareNetworkId(shareId), status, device: hosts[0] ?? null };
  }

  private async leave(shareId: string): Promise<void> {
    const held = this.held.get(shareId);
    if (held === undefined) return;
    this.held.delete(shareId);
    await held.joined.catch(() => undefined);
    await held.engine.runtime.stop();
  }
}
