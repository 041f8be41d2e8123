// Fair reading (server/relay/read-share.ts): a client's backlog does not hold up another
// client's frame. A writes a burst of SEND frames and C a PING right behind it, in one
// synchronous stretch, so both are in the relay's socket buffers before the relay (in this
// process) runs again. The relay used to forward all of A's burst before it read C's socket;
// now it forwards one budget's worth, reads C (and answers the PING), then carries on. The
// order is read off the relay's own output (metrics.frameOut, called as each frame is handed
// to its socket): no clock decides anything here.

import { afterEach, describe, expect, it, vi } from "vitest";
import type { RelayServer } from "../../server/relay/relay-server.ts";
import {
  connectAuthed,
  endTestRelay,
  nodeKeys,
  type RawClient,
  startTestRelay,
} from "./raw-client.ts";

let relay: RelayServer | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  relay = await endTestRelay(relay, clients);
});

const PACKET = 1420;
const FRAME = 1 + 32 + PACKET;
const PONG_FRAME = 9;
const BUDGET = 2 * 1024;
const BURST = 40;

describe("relay read fairness", () => {
  it("answers another client's PING before the rest of one client's backlog", async () => {
    ({ relay } = await startTestRelay({ readBudget: BUDGET }));
    const [ka, kb, kc] = await Promise.all([nodeKeys(), nodeKeys(), nodeKeys()]);
    const a = await connectAuthed(relay.url, ka);
    const b = await connectAuthed(relay.url, kb);
    const c = await connectAuthed(relay.url, kc);
    clients.push(a, b, c);
    const out: number[] = [];
    const frameOut = relay.metrics.frameOut.bind(relay.metrics);
    vi.spyOn(relay.metrics, "frameOut").mockImplementation((bytes) => {
      out.push(bytes);
      frameOut(bytes);
    });

    let received = 0;
    const allReceived = new Promise<void>((resolve, reject) => {
      b.onFrame = (frame) => {
        if (frame.type !== "recv") return;
        try {
          expect(frame.packet[0]).toBe(received); // in order, none lost
          expect(frame.packet.length).toBe(PACKET);
        } catch (error) {
          reject(error);
        }
        if (++received === BURST) resolve();
      };
    });
    // One synchronous stretch: the relay cannot run before both are written.
    for (let i = 0; i < BURST; i++) a.sendTo(kb.publicKey, new Uint8Array(PACKET).fill(i));
    const pong = c.ping(5000);
    await Promise.all([pong, allReceived]);

    const pongAt = out.indexOf(PONG_FRAME);
    expect(pongAt).toBeGreaterThanOrEqual(0);
    const recvBefore = out.slice(0, pongAt).filter((n) => n === FRAME).length;
    const recvTotal = out.filter((n) => n === FRAME).length;
    expect(recvTotal).toBe(BURST);
    // One turn forwards frames until the budget is used (2 here); a second turn of slack for a
    // kernel that hands the relay C's bytes one poll late. Before: all that the relay's first
    // read of A brought went first (16 frames on the machine this was written on: what fits
    // in A's socket buffers at once).
    const perTurn = Math.ceil(BUDGET / FRAME);
    expect(recvBefore).toBeLessThanOrEqual(2 * perTurn);
    expect(recvBefore).toBeLessThan(BURST);
  });
});
