// The engine's dial through an accepted share's node (worker/engine/app-dial.ts): a private URL
// of the shared device goes through the share without joining the mesh (a guest has none), a
// host the share does not map still goes to the mesh, a refused (revoked) share is not used,
// and `knows` names the shared device (so its redirects are rewritten to its app origin).

import { describe, expect, it } from "vitest";
import type { MeshStatus } from "../../worker/api.ts";
import type { PeerView } from "../../worker/control/types.ts";
import { AppDialer, type DialMesh } from "../../worker/engine/app-dial.ts";
import { appErrorOf } from "../../worker/engine/app-errors.ts";
import { httpRequest } from "../../worker/http/client.ts";
import { HttpPool } from "../../worker/http/pool.ts";
import type { NetInterface } from "../../worker/net/interface.ts";

/** A node whose map holds `peers`; every connect through it is counted, then refused. */
function node(
  name: string,
  peers: Partial<PeerView>[],
  state: MeshStatus["state"] = "ready",
): DialMesh & { connects: number; starts: number; state: MeshStatus["state"] } {
  const self = {
    connects: 0,
    starts: 0,
    state,
    status: () => ({ state: self.state }),
    async start() {
      self.starts++;
      return { state: self.state };
    },
    peer(host: string) {
      const found = peers.find((p) => p.name === host || p.addresses?.includes(host));
      if (found === undefined) throw new Error(`no mesh host "${host}" in ${name}'s map`);
      return found as PeerView;
    },
    net: () =>
      ({
        sourceFor: () => new Uint8Array(4),
        tcp: {
          connect: () => {
            self.connects++;
            return Promise.reject(new Error("connection refused"));
          },
        },
      }) as unknown as NetInterface,
  };
  return self;
}

async function dialError(dialer: AppDialer, host: string, port: number) {
  const pool = new HttpPool({ dial: dialer.dial, connectTimeoutMs: 2000 });
  try {
    await httpRequest(pool, { method: "GET", host, port, target: "/" });
  } catch (error) {
    return appErrorOf(error, { host, port, scheme: "http" });
  }
  throw new Error("expected a failure");
}

const device = { name: "web-01", addresses: ["100.64.0.7"], online: true };

describe("the dial through a share's node", () => {
  it("reaches the shared device through the share, never starting the mesh", async () => {
    const mesh = node("mesh", [], "stopped");
    const share = node("share", [device]);
    const dialer = new AppDialer({
      networks: async () => [],
      runtime: () => Promise.reject(new Error("no wg-quick network")),
      mesh: async () => mesh,
      shares: async () => [share],
      meshJoinWaitMs: 50,
    });
    const got = await dialError(dialer, "web-01", 3000);
    expect(got.code).toBe("refused"); // the share's stack answered: the route was the share
    expect(share.connects).toBe(1);
    expect(mesh.starts).toBe(0);
    expect(await dialer.knows("web-01")).toBe(true);
    expect(await dialer.knows("100.64.0.7")).toBe(true);
    expect(await dialer.knows("db-01")).toBe(false);
  });

  it("a host the share does not map goes to the mesh; a refused share is not used", async () => {
    const mesh = node("mesh", [{ name: "db-01", addresses: ["100.64.0.9"], online: true }]);
    const share = node("share", [device]);
    const dialer = new AppDialer({
      networks: async () => [],
      runtime: () => Promise.reject(new Error("no wg-quick network")),
      mesh: async () => mesh,
      shares: async () => [share],
    });
    await dialError(dialer, "db-01", 5432);
    expect(mesh.connects).toBe(1);
    expect(share.connects).toBe(0);

    share.state = "refused"; // revoked: its map is gone for the server
    const revoked = await dialError(dialer, "web-01", 3000);
    expect(revoked.code).toBe("unknown-host");
    expect(share.connects).toBe(0);
    expect(await dialer.knows("web-01")).toBe(false);
  });
});
