// A page whose watch the engine dropped gets it back (issue 15 review, item 2): the engine drops
// a listener after MAX_UNANSWERED unanswered pushes (a frozen background tab answers none),
// meshWatching(id) then says false, and the page's MeshWatch.refresh() (run on
// visibilitychange, pageshow and focus) watches again and is told the current state at once.
// The engine side is a real MeshRuntime whose crypto core fails to load (a change to push
// without a network); the page side is web/shell/mesh-watch.ts against that runtime.

import { describe, expect, it } from "vitest";
import type { Engine } from "../../web/engine.ts";
import { MeshWatch } from "../../web/shell/mesh-watch.ts";
import type { MeshListener, MeshStatus } from "../../worker/api.ts";
import { MeshRuntime } from "../../worker/engine/mesh-runtime.ts";
import { waitUntil } from "../helpers/wait.ts";

function runtime(): MeshRuntime {
  let loads = 0;
  return new MeshRuntime({
    loadCore: () => Promise.reject(new Error(`no core (load ${++loads})`)),
    x25519: {} as never,
    controlUrl: "ws://127.0.0.1:9/control",
    controlConnect: () => {
      throw new Error("no control server here");
    },
    relayConnect: () => {
      throw new Error("no relay here");
    },
    hostname: "test",
    maxUnanswered: 2,
  });
}

describe("a dropped mesh watch", () => {
  it("is dropped after unanswered pushes and meshWatching says so", async () => {
    const mesh = runtime();
    const frozen: MeshListener = { onMesh: () => new Promise<void>(() => {}) };
    const id = mesh.watch(frozen);
    expect(mesh.watching(id)).toBe(true);
    for (let i = 0; i < 3 && mesh.watching(id); i++) await mesh.start();
    await waitUntil(() => !mesh.watching(id), "the frozen listener dropped");
    const told: MeshStatus[] = [];
    const again = mesh.watch({ onMesh: (status) => void told.push(status) });
    expect(mesh.watching(again)).toBe(true);
    expect(told[0]?.state).toBe("error");
    mesh.unwatch(again);
    expect(mesh.watching(again)).toBe(false);
  });

  it("the page's MeshWatch watches again after the drop and sees the state", async () => {
    const mesh = runtime();
    let frozen = true;
    const ids: string[] = [];
    // The engine as comlink would show it: the page's listener answers only while not frozen.
    const engine = {
      watchMesh: async (listener: MeshListener) => {
        const id = mesh.watch({
          onMesh: (status, hosts) =>
            frozen ? new Promise<void>(() => {}) : listener.onMesh(status, hosts),
        });
        ids.push(id);
        return id;
      },
      meshWatching: async (id: string) => mesh.watching(id),
      meshStart: () => mesh.start(),
      meshHosts: async () => mesh.hosts(),
    } as unknown as Engine;
    const page = new MeshWatch(engine);
    await page.start();
    // Each start is a change to push (pushes are PUSH_GAP_MS apart): until the drop.
    await waitUntil(() => !mesh.watching(ids[0]!), "the frozen page's watch dropped", {
      poll: async () => {
        await mesh.start();
      },
    });
    const last = mesh.status().detail;
    expect(page.status.detail).not.toBe(last);
    frozen = false;
    await page.refresh();
    expect(ids).toHaveLength(2);
    await waitUntil(() => page.status.detail === last, "the state after thawing");
    // A watch that stands is left as it is.
    await page.refresh();
    expect(ids).toHaveLength(2);
  });
});
