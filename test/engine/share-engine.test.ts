// The engine's shares (worker/engine/share-engine.ts) on a fake control server: the accept call
// carries the link's secret and the node's public key (never the private one), the server's
// refusals come back with their code and sentence, nothing joins after a refusal, a joined
// share is not accepted twice, and leaving stops the node. The real chain (control server,
// share node, SSH on the device) is test/engine/share-mesh.test.ts.

import { describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import type { MeshHost, MeshStatus } from "../../worker/api.ts";
import { shareIdOf, shareNetworkId } from "../../worker/api.ts";
import type { MeshEngine } from "../../worker/engine/mesh-api.ts";
import { ShareEngines } from "../../worker/engine/share-engine.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";

const SHARE = "AbCdEfGhIjKlMnOpQrStUv";
const DEVICE: MeshHost = {
  id: 7,
  key: `${"k".repeat(43)}=`,
  name: "web-01",
  hostname: "web-01",
  addresses: ["100.64.0.7"],
  os: "linux",
  tags: [],
  owner: null,
  ephemeral: false,
  online: true,
  lastSeen: null,
  path: "none",
  rttMs: null,
  lastHandshake: null,
  identitySsh: true,
};

interface FakeNode {
  privateKey: Uint8Array;
  started: number;
  stopped: number;
  status: MeshStatus;
}

function harness(answer: (body: Record<string, unknown>) => Response | Promise<Response>) {
  const calls: { url: string; init: RequestInit; body: Record<string, unknown> }[] = [];
  const nodes: FakeNode[] = [];
  const shares = new ShareEngines({
    x25519: nodeX25519,
    controlUrl: "ws://corridor.localhost:8080/control",
    hostname: "chrome-linux",
    fetch: async (url, init) => {
      const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
      calls.push({ url: String(url), init: init ?? {}, body });
      return answer(body);
    },
    createEngine: (privateKey) => {
      const node: FakeNode = { privateKey, started: 0, stopped: 0, status: { state: "stopped" } };
      nodes.push(node);
      const runtime = {
        start: async () => {
          node.started++;
          node.status = { state: "ready" };
          return node.status;
        },
        status: () => node.status,
        hosts: () => [DEVICE],
        watch: () => "w1",
        unwatch: () => undefined,
        stop: async () => {
          node.stopped++;
          node.status = { state: "stopped" };
        },
      };
      return { runtime } as unknown as MeshEngine;
    },
  });
  return { shares: shares.calls(), engines: shares, calls, nodes };
}

describe("ShareEngines", () => {
  it("accepts with the secret and the public key, then joins and shows the device", async () => {
    const h = harness(() => new Response("{}", { status: 201 }));
    const result = await h.shares.shareAccept(SHARE, "the-secret");
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.state.networkId).toBe(`share:${SHARE}`);
    expect(result.state.status.state).toBe("ready");
    expect(result.state.device?.name).toBe("web-01");
    expect(h.calls).toHaveLength(1);
    const call = h.calls[0]!;
    expect(call.url).toBe(`http://corridor.localhost:8080/api/v1/shares/${SHARE}/accept`);
    expect(call.init.method).toBe("POST");
    expect(call.init.credentials).toBe("include");
    expect(call.body.secret).toBe("the-secret");
    expect(call.body.hostname).toBe("chrome-linux");
    // The public half of the key the node runs with; the private half never leaves.
    const node = h.nodes[0]!;
    expect(call.body.nodeKey).toBe(keyToBase64(await nodeX25519.publicKey(node.privateKey)));
    expect(JSON.stringify(call.body)).not.toContain(keyToBase64(node.privateKey));
    expect(node.started).toBe(1);
    // The per-network calls find it; a second accept returns the same node.
    expect(h.engines.engineOf(SHARE)).toBeDefined();
    const again = await h.shares.shareAccept(SHARE, "the-secret");
    expect(again.ok && again.state.status.state).toBe("ready");
    expect(h.calls).toHaveLength(1);
    expect(await h.shares.listShareStates()).toHaveLength(1);
  });

  it("returns the server's refusal with its code and sentence, and joins nothing", async () => {
    const h = harness(
      () =>
        new Response(
          JSON.stringify({ error: "share_used_up", message: "this link was already used" }),
          { status: 410, headers: { "content-type": "application/json" } },
        ),
    );
    const result = await h.shares.shareAccept(SHARE, "s");
    expect(result).toEqual({
      ok: false,
      status: 410,
      code: "share_used_up",
      message: "this link was already used",
    });
    expect(h.nodes).toHaveLength(0);
    expect(await h.shares.shareState(SHARE)).toBeNull();
    expect(() => h.engines.engineOf(SHARE)).toThrow(/holds no share/);
  });

  it("says so when the server cannot be reached or answers something else", async () => {
    const down = harness(() => {
      throw new TypeError("fetch failed");
    });
    const unreachable = await down.shares.shareAccept(SHARE, "s");
    expect(unreachable.ok).toBe(false);
    if (!unreachable.ok) {
      expect(unreachable.code).toBe("unreachable");
      expect(unreachable.message).toMatch(/cannot reach the control server: fetch failed/);
    }
    const odd = harness(() => new Response("<html>bad gateway</html>", { status: 502 }));
    const strange = await odd.shares.shareAccept(SHARE, "s");
    expect(strange).toMatchObject({ ok: false, status: 502, code: "unexpected_answer" });
  });

  it("refuses an id that is no share id without calling the server", async () => {
    const h = harness(() => new Response("{}", { status: 201 }));
    for (const id of ["", "short", "has/slash/in/it/xxxxxxxx", `${"a".repeat(65)}`, "../../x"]) {
      const result = await h.shares.shareAccept(id, "s");
      expect(result).toMatchObject({ ok: false, code: "share_not_found" });
    }
    expect(h.calls).toHaveLength(0);
  });

  it("leaving stops the node and forgets it", async () => {
    const h = harness(() => new Response("{}", { status: 201 }));
    await h.shares.shareAccept(SHARE, "s");
    await h.shares.shareLeave(SHARE);
    expect(h.nodes[0]!.stopped).toBe(1);
    expect(await h.shares.shareState(SHARE)).toBeNull();
    await h.shares.shareLeave(SHARE); // nothing held: no error
  });

  it("names share networks and reads them back", () => {
    expect(shareIdOf(shareNetworkId(SHARE))).toBe(SHARE);
    expect(shareIdOf("mesh")).toBeNull();
    expect(shareIdOf("share:../x")).toBeNull();
    expect(shareIdOf("share:")).toBeNull();
  });
});
