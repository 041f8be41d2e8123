// Approvals across control servers, driven directly (an in-memory channel instead of
// PostgreSQL's): a request opened on one server is seen and decided on another, the holder's
// refusal comes back as its sentence, a request whose stream ended is forgotten everywhere, a
// server that starts hears what the others hold, a holder that never answers costs a bounded
// wait and a clear error, and the decoder refuses what is not an approval message (seeded fuzz).

import { afterEach, describe, expect, it } from "vitest";
import { ApprovalDesk } from "../../server/control/approvals.ts";
import { ApprovalBoard } from "../../server/control/cluster/approval-board.ts";
import {
  decodeApprovalMessage,
  encodeApprovalMessage,
} from "../../server/control/cluster/approval-wire.ts";
import { ManualClock } from "./stream-harness.ts";

/** Servers on one channel: a payload reaches every board (the sender's too, as NOTIFY does). */
function channel() {
  const boards: ApprovalBoard[] = [];
  /** Servers whose messages are lost (cut off from the database). */
  const deaf = new Set<string>();
  const payloads: string[] = [];
  return {
    boards,
    deaf,
    payloads,
    send(from: string, payload: string): Promise<void> {
      payloads.push(payload);
      if (deaf.has(from)) return Promise.resolve();
      // Delivered after the sender's turn, as a notification is.
      setImmediate(() => {
        for (const board of boards) board.received(payload);
      });
      return Promise.resolve();
    },
  };
}

interface Server {
  desk: ApprovalDesk;
  board: ApprovalBoard;
  decided: string[];
}

const clock = new ManualClock(1_000_000);
const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.board.close();
});

function server(bus: ReturnType<typeof channel>, id: string, answerWithinMs = 15_000): Server {
  const desk = new ApprovalDesk(clock, `https://${id}.example/`);
  const board = new ApprovalBoard({
    serverId: id,
    desk,
    send: (payload) => bus.send(id, payload),
    now: () => clock.now(),
    answerWithinMs,
  });
  desk.share(board);
  bus.boards.push(board);
  const s = { desk, board, decided: [] };
  servers.push(s);
  return s;
}

/** Until what was said now is delivered: a board sends in order (one promise step), then the
 * channel delivers on the next turn. */
const turn = async () => {
  for (let i = 0; i < 2; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

function open(s: Server, hostname: string, refuseTags = false) {
  return s.desk.open(
    { nodeKey: `${hostname}-key`, hostname, os: "linux", requestedTags: [] },
    {
      approve: async (userId, tags) => {
        if (refuseTags && tags !== undefined && tags.length > 0) {
          throw new Error(`you may not put ${tags.join(", ")} on nodes`);
        }
        s.decided.push(`approved ${hostname} by ${userId}${tags ? ` ${tags.join(",")}` : ""}`);
      },
      deny: () => {
        s.decided.push(`denied ${hostname}`);
      },
    },
  ).pending;
}

describe("approvals across servers", () => {
  it("a request held by A is seen on B and approved or denied there by its holder", async () => {
    const bus = channel();
    const a = server(bus, "a");
    const b = server(bus, "b");
    const one = open(a, "build-01");
    const two = open(a, "build-02");
    await turn();
    expect(b.desk.get(one.id)).toEqual(one);
    await b.desk.approve(one.id, 7);
    await b.desk.deny(two.id);
    expect(a.decided).toEqual(["approved build-01 by 7", "denied build-02"]);
    await turn();
    // Decided: gone on both.
    expect(a.desk.get(one.id)).toBeNull();
    expect(b.desk.get(one.id)).toBeNull();
    expect(b.desk.get(two.id)).toBeNull();
    await expect(b.desk.approve(one.id, 7)).rejects.toThrow(
      "this approval request is gone: it expired or the agent disconnected",
    );
  });

  it("the holder's refusal comes back as its sentence, and the request stays open", async () => {
    const bus = channel();
    const a = server(bus, "a");
    const b = server(bus, "b");
    const req = open(a, "db-01", true);
    await turn();
    await expect(b.desk.approve(req.id, 3, ["tag:db"])).rejects.toThrow(
      "you may not put tag:db on nodes",
    );
    expect(b.desk.get(req.id)).not.toBeNull();
    await b.desk.approve(req.id, 3);
    expect(a.decided).toEqual(["approved db-01 by 3"]);
  });

  it("a stream that ends closes its request everywhere; a new server hears what is open", async () => {
    const bus = channel();
    const a = server(bus, "a");
    const b = server(bus, "b");
    const gone = open(a, "laptop");
    const stays = open(a, "desktop");
    await turn();
    a.desk.cancel(gone.id);
    await turn();
    expect(b.desk.get(gone.id)).toBeNull();
    const c = server(bus, "c");
    expect(c.desk.get(stays.id)).toBeNull();
    c.board.rejoined();
    await turn();
    await turn();
    expect(c.desk.get(stays.id)).toEqual(stays);
    expect(c.desk.get(gone.id)).toBeNull();
    // Expired: gone on the others without a word.
    clock.advance(15 * 60 * 1000);
    expect(c.desk.get(stays.id)).toBeNull();
  });

  it("a holder that never answers costs a bounded wait, a clear error, and the entry", async () => {
    const bus = channel();
    const a = server(bus, "a");
    const b = server(bus, "b", 50);
    const req = open(a, "edge-01");
    await turn();
    bus.deaf.add("a");
    bus.boards.splice(bus.boards.indexOf(a.board), 1); // A hears nothing either
    await expect(b.desk.approve(req.id, 1)).rejects.toThrow(
      "the control server holding this request did not answer within 0 s: whether it was decided is not known (an agent still waiting asks again when it reconnects)",
    );
    expect(b.desk.get(req.id)).toBeNull();
    expect(a.decided).toEqual([]);
  });

  it("a decision whose send hangs ends at the wait with its error, never an unhandled rejection", async () => {
    const bus = channel();
    const a = server(bus, "a");
    const b = server(bus, "b", 30);
    const req = open(a, "stuck-01");
    await turn();
    // B's pool is stuck: its sends never finish (no connection to the database).
    const hang = new ApprovalBoard({
      serverId: "b2",
      desk: b.desk,
      send: () => new Promise<void>(() => {}),
      now: () => clock.now(),
      answerWithinMs: 30,
    });
    hang.received(bus.payloads.find((p) => p.includes('"t":"open"'))!);
    await expect(hang.deny(req.id)).rejects.toThrow("whether it was decided is not known");
    // Give an unhandled rejection the turns it needs to surface (vitest fails the run on one).
    await new Promise((resolve) => setTimeout(resolve, 50));
    hang.close();
  });

  it("a request too large for one notification stays with its server", async () => {
    const bus = channel();
    const a = server(bus, "a");
    const b = server(bus, "b");
    const big = a.desk.open(
      {
        nodeKey: "k",
        hostname: "h",
        os: "linux",
        requestedTags: Array.from({ length: 64 }, (_, i) => `tag:${"x".repeat(120)}${i}`),
      },
      { approve: async () => {}, deny: () => {} },
    ).pending;
    await turn();
    expect(b.desk.get(big.id)).toBeNull();
    expect(a.desk.get(big.id)).not.toBeNull();
    expect(b.board.malformed).toBe(0);
  });

  it("refuses what is not an approval message, counted, without throwing (seeded fuzz)", () => {
    const bus = channel();
    const b = server(bus, "b");
    const valid = [
      encodeApprovalMessage({
        t: "open",
        s: "a",
        a: {
          id: "abc",
          nodeKey: "k",
          hostname: "h",
          os: "linux",
          requestedTags: ["tag:x"],
          createdAt: 1,
          expiresAt: 2,
        },
      })!,
      encodeApprovalMessage({ t: "decide", s: "a", to: "b", r: "r1", id: "abc", approve: true })!,
      encodeApprovalMessage({ t: "result", s: "a", to: "b", r: "r1", error: "no" })!,
      encodeApprovalMessage({ t: "close", s: "a", id: "abc" })!,
      encodeApprovalMessage({ t: "hello", s: "a" })!,
    ];
    for (const text of valid) expect(decodeApprovalMessage(text)).not.toBeNull();
    let seed = 0x5eed;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    const INPUTS = 5000;
    let refused = 0;
    for (let i = 0; i < INPUTS; i++) {
      const base = valid[Math.floor(random() * valid.length)]!;
      const chars = [...base];
      const edits = 1 + Math.floor(random() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * chars.length);
        const pick = random();
        if (pick < 0.4) chars[at] = String.fromCharCode(32 + Math.floor(random() * 95));
        else if (pick < 0.7) chars.splice(at, 1);
        else
          chars.splice(
            at,
            0,
            ['"', "{", "}", "[", "]", ",", ":", "1", "-"][Math.floor(random() * 9)]!,
          );
      }
      const text = chars.join("");
      const before = b.board.malformed;
      expect(() => b.board.received(text)).not.toThrow();
      if (b.board.malformed > before) refused++;
    }
    // Wrong types and extra fields are refused, not half-applied.
    for (const text of [
      '{"t":"open","s":"a","a":{"id":"x"}}',
      '{"t":"decide","s":"a","to":"b","r":"r","id":"x","approve":"yes"}',
      '{"t":"close","s":"a","id":"x","more":1}',
      '{"t":"hello","s":"a b"}',
      "null",
    ]) {
      expect(decodeApprovalMessage(text)).toBeNull();
    }
    console.log(`approval wire fuzz: ${INPUTS} inputs, ${refused} refused and counted`);
    expect(refused).toBeGreaterThan(INPUTS / 2);
  });
});
