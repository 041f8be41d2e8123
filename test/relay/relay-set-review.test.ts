// RelaySet review fixes (issue 18), on real relay servers in this process: a map waiting for a
// home whose connection comes back by itself after a drop is released; a start every relay
// refuses leaves no set or timer behind (RelaySet and MeshPlane); a probe's own connection
// gives way to the set's instead of replacing it (4409); status names the relay a peer's
// packets go through.

import { ed25519 } from "@noble/curves/ed25519.js";
import { afterEach, describe, expect, it } from "vitest";
import type { RelayOptions } from "../../server/relay/options.ts";
import { ANY_RELAY, signRelayToken } from "../../server/relay/token.ts";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import type { NetworkMap, PeerView } from "../../worker/control/types.ts";
import { loadCryptoCore, nobleX25519 } from "../../worker/crypto/index.ts";
import { MeshPlane } from "../../worker/mesh/mesh-plane.ts";
import { RelaySet, type RelaySetOptions } from "../../worker/relay/relay-set.ts";
import type { RelayConnect } from "../../worker/relay/socket.ts";
import { type Clock, systemClock, type TimerHandle } from "../../worker/wireguard/clock.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { until } from "./client-fake-relay.ts";
import { clampedKey, peerView, testRelay } from "./relay-set-harness.ts";

const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const random = seededBytes(0x5e8);
const bytes = (s: string) => new TextEncoder().encode(s);
const relay = (id: string, auth?: RelayOptions["auth"]) => testRelay(id, cleanup, random, auth);
const peer = (key: string, homeRelay: string): PeerView =>
  peerView(key, homeRelay, { id: 2, addresses: ["100.64.0.2"] });

const nodeKey = (): Uint8Array => clampedKey(random);

/** The system clock, counting its timers still to fire. */
function countingClock(): Clock & { live: Set<TimerHandle> } {
  const live = new Set<TimerHandle>();
  return {
    live,
    now: systemClock.now,
    wallNow: systemClock.wallNow,
    setTimer(ms, fn) {
      const inner = systemClock.setTimer(ms, () => {
        live.delete(handle);
        fn();
      });
      const handle: TimerHandle = {
        cancel: () => {
          live.delete(handle);
          inner.cancel();
        },
      };
      live.add(handle);
      return handle;
    },
  };
}

async function makeSet(options: Partial<RelaySetOptions> = {}): Promise<RelaySet> {
  const set = new RelaySet({
    privateKey: nodeKey(),
    core: await loadCryptoCore(),
    x25519: nobleX25519,
    connect: nodeRelayConnect(),
    backoffBaseMs: 50,
    backoffMaxMs: 200,
    probe: async () => 5,
    ...options,
  });
  cleanup.push(() => set.close());
  return set;
}

/** `socket` with each message it sends held back `ms` (dropped if it closes meanwhile). */
function slowSends(socket: ReturnType<RelayConnect>, ms: number): ReturnType<RelayConnect> {
  let closed = false;
  return {
    get bufferedAmount() {
      return socket.bufferedAmount;
    },
    listen: (events) => socket.listen(events),
    send: (message) => {
      const copy = message.slice();
      setTimeout(() => {
        if (!closed) socket.send(copy);
      }, ms);
    },
    close: (code, reason) => {
      closed = true;
      socket.close(code, reason);
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("RelaySet review fixes", () => {
  it("a wait for the home ends when the home's connection comes back by itself", async () => {
    const [r1, r2] = [await relay("r1"), await relay("r2")];
    const plain = nodeRelayConnect();
    let blockR2 = false;
    const sockets: ReturnType<RelayConnect>[] = [];
    const connect: RelayConnect = (url, protocol) => {
      const target = url === r2.info.url && blockR2 ? "ws://127.0.0.1:9/relay" : url;
      const socket = plain(target, protocol);
      if (url === r2.info.url) sockets.push(socket);
      return socket;
    };
    const set = await makeSet({ connect, failoverMs: 3000 });
    const p = peer(keyToBase64(random(32)), "r2");
    set.update([r1.info, r2.info], "", [p], "r1");
    await set.open(() => {});
    set.send(bytes("x"), set.parseEndpoint(`peer:${p.key}`));
    await until(() => set.connections.get("r2")?.state === "ready", 5000, "r2 connected");
    // r2's connection drops and cannot come back for a while; then the map drops the home r1.
    blockR2 = true;
    sockets.at(-1)?.close(4000, "blip");
    await until(() => set.connections.get("r2")?.state !== "ready", 5000, "r2 dropped");
    set.update([r2.info], "", [p]);
    expect(set.home?.id).toBe("r2");
    let ready = false;
    const waiting = set.whenReady().then(() => {
      ready = true;
    });
    await sleep(300);
    expect(ready).toBe(false);
    blockR2 = false;
    await until(() => set.homeBind?.state === "ready", 5000, "r2 back");
    // Released on its own reconnect (no first WELCOME, no home switch).
    await until(() => ready, 1000, "the wait released");
    await waiting;
  });

  it("every relay refusing stops the timer until a new token; the set then connects", async () => {
    const controlSecret = random(32);
    const auth = { mode: "token", controlPublicKey: ed25519.getPublicKey(controlSecret) } as const;
    const [r1, r2] = [await relay("r1", auth), await relay("r2", auth)];
    const clock = countingClock();
    const set = await makeSet({ clock });
    const privateKey = (set as unknown as { options: RelaySetOptions }).options.privateKey;
    const key = keyToBase64(await nobleX25519.publicKey(privateKey));
    set.update([r1.info, r2.info], "bad.token", [], "r1");
    await expect(set.open(() => {})).rejects.toThrow(/4401|refused|token/i);
    await expect(set.whenReady()).rejects.toThrow();
    // Nothing of the set's is left to fire (the connections' timers went with them).
    await until(() => clock.live.size === 0, 2000, "no timer left");
    await sleep(200);
    expect(clock.live.size).toBe(0);
    // What the device still sends (keepalives, handshake retries) dials no relay that refused.
    const to = set.parseEndpoint(`peer:${keyToBase64(random(32))}`);
    for (let i = 0; i < 5; i++) expect(set.send(bytes("x"), to)).toBe(false);
    expect(set.connections.size).toBe(0);
    expect(clock.live.size).toBe(0);
    const token = signRelayToken(
      { v: 1, key, relay: ANY_RELAY, udp: [], exp: Math.floor(Date.now() / 1000) + 600 },
      controlSecret,
    );
    set.update([r1.info, r2.info], token, []);
    await set.whenReady();
    expect(set.homeBind?.state).toBe("ready");
    expect(clock.live.size).toBeGreaterThan(0);
  });

  it("MeshPlane closes the relay set of a start every relay refused", async () => {
    const strict = { mode: "token", controlPublicKey: ed25519.getPublicKey(random(32)) } as const;
    const r1 = await relay("r1", strict);
    const privateKey = nodeKey();
    const sets: RelaySet[] = [];
    const plane = new MeshPlane({
      privateKey,
      core: await loadCryptoCore(),
      x25519: nobleX25519,
      relayConnect: nodeRelayConnect(),
      relays: { probe: async () => 5 },
      wrapBind: (relays) => {
        sets.push(relays);
        return relays;
      },
    });
    cleanup.push(() => plane.close());
    const self = { ...peer(keyToBase64(await nobleX25519.publicKey(privateKey)), "r1"), id: 1 };
    const map: NetworkMap = {
      self,
      peers: [],
      filter: [],
      ssh: [],
      relays: [r1.info],
      token: { token: "bad.token", expiresAt: Date.now() + 3600_000 },
      domain: "mesh.test",
    };
    await expect(plane.apply(map)).rejects.toThrow();
    await expect(plane.apply(map)).rejects.toThrow();
    expect(sets).toHaveLength(2);
    for (const set of sets) await expect(set.whenReady()).rejects.toThrow(/closed/);
  });

  it("a send opening the connection a probe is making takes over (no 4409, no unreachable)", async () => {
    const [r1, r2] = [await relay("r1"), await relay("r2")];
    // The probe's connection to r2 (the first one there) is slow to speak: its hello would
    // reach the relay after the set's own, which the relay would then close (4409).
    const plain = nodeRelayConnect();
    let toR2 = 0;
    const connect: RelayConnect = (url, protocol) => {
      const socket = plain(url, protocol);
      return url === r2.info.url && toR2++ === 0 ? slowSends(socket, 300) : socket;
    };
    // No probe option: the set PINGs, over a short-lived connection where it has none.
    const set = await makeSet({ connect, probe: undefined, probeTimeoutMs: 3000 });
    const p = peer(keyToBase64(random(32)), "r2");
    set.update([r1.info, r2.info], "", [p], "r1");
    const opened = set.open(() => {});
    // r2's probe connection is in flight; this send opens the set's own there.
    set.send(bytes("x"), set.parseEndpoint(`peer:${p.key}`));
    await opened;
    await until(() => set.roundTrips.has("r2"), 5000, "r2 measured");
    expect(typeof set.roundTrips.get("r2")).toBe("number");
    const bind = set.connections.get("r2");
    await until(() => bind?.state === "ready", 5000, "r2 connected");
    await sleep(600);
    expect(toR2).toBe(2);
    expect(bind?.state).toBe("ready");
    expect(bind?.stats.connectAttempts).toBe(1);
    expect(bind?.stats.disconnects).toBe(0);
  });

  it("relayFor: a peer's packets go through its home relay, else through ours", async () => {
    const [r1, r2] = [await relay("r1"), await relay("r2")];
    const set = await makeSet();
    const [onR2, unknown, gone] = [random(32), random(32), random(32)].map(keyToBase64);
    set.update(
      [r1.info, r2.info],
      "",
      [peer(onR2 as string, "r2"), peer(unknown as string, ""), peer(gone as string, "r9")],
      "r1",
    );
    await set.open(() => {});
    expect(set.relayFor(onR2 as string)?.id).toBe("r2");
    expect(set.relayFor(unknown as string)?.id).toBe("r1");
    expect(set.relayFor(gone as string)?.id).toBe("r1");
    expect(set.relayFor(keyToBase64(random(32)))?.id).toBe("r1");
  });
});
