// WebRTC signals across two control servers on one PostgreSQL: a node on server A signals a
// peer whose stream server B holds; A forwards it on corridor_signals (the holder from
// presence) and B delivers it with the sender's key. A malformed envelope on the channel is
// dropped and counted. Raw map streams (stream-harness's RawNode) pointed at each server.

import { expect, it } from "vitest";
import type { PeerSignalMessage } from "../../worker/control/messages.ts";
import { postgresPrereq } from "../helpers/postgres.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import {
  initCrypto,
  type Member,
  seedDatabase,
  startMember,
  usePostgres,
} from "./cluster-harness.ts";
import { CANDIDATE, OFFER } from "./signal-fixtures.ts";
import { type Harness, RawNode } from "./stream-harness.ts";

const pgNeed = postgresPrereq();

describeWithPrereq(pgNeed, "signals across two control servers", () => {
  const fixture = usePostgres();
  const { cleanup } = fixture;

  it("a node on A signals its peer on B through the database", async () => {
    const core = await initCrypto();
    const { url, key } = await seedDatabase(fixture.pg, "cluster_signals");
    const a: Member = await startMember(url, "server-a", core);
    cleanup.push(() => a.close());
    const b: Member = await startMember(url, "server-b", core);
    cleanup.push(() => b.close());

    const on = async (member: Member, hostname: string, caps = ["signal"]) => {
      // RawNode reads only the harness's URL and crypto core.
      const node = await RawNode.create({ url: member.url, core } as Harness);
      cleanup.push(() => node.close());
      await node.login({ authKey: key, hostinfo: { hostname, os: "linux" }, caps });
      await node.expect("map");
      return node;
    };
    const onA = await on(a, "laptop");
    const onB = await on(b, "desktop");
    const oldOnB = await on(b, "old-agent", []);
    // A knows B holds the peer once B's presence arrived.
    const peerId = () => a.control.mapper.nodeIdByKey(onB.publicKey);
    await waitUntil(
      () => {
        const id = peerId();
        return id !== undefined && a.control.cluster?.presence.holder(id) === "server-b";
      },
      "A hears that B holds desktop",
      { hangAfterMs: 10_000 },
    );

    onA.send({ type: "signal", to: onB.publicKey, sid: "across-0001", kind: "offer", sdp: OFFER });
    onA.send({
      type: "signal",
      to: onB.publicKey,
      sid: "across-0001",
      kind: "candidate",
      candidate: CANDIDATE,
      mid: "0",
      mline: 0,
    });
    const got: PeerSignalMessage[] = [];
    while (got.length < 2) {
      const message = await onB.next();
      if (message.type === "signal") got.push(message);
    }
    expect(got.map((m) => [m.from, m.sid, m.kind])).toEqual([
      [onA.publicKey, "across-0001", "offer"],
      [onA.publicKey, "across-0001", "candidate"],
    ]);
    expect(got[0]?.sdp).toBe(OFFER);
    const forward = b.control.cluster!.signals;
    expect(forward.delivered).toBe(2);

    // A peer on B that did not list the capability: B answers A's sender with a bye.
    await waitUntil(
      () => {
        const id = a.control.mapper.nodeIdByKey(oldOnB.publicKey);
        return id !== undefined && a.control.cluster?.presence.holder(id) === "server-b";
      },
      "A hears that B holds old-agent",
      { hangAfterMs: 10_000 },
    );
    onA.send({
      type: "signal",
      to: oldOnB.publicKey,
      sid: "across-0002",
      kind: "offer",
      sdp: OFFER,
    });
    for (;;) {
      const message = await onA.next();
      if (message.type !== "signal") continue;
      expect(message).toMatchObject({
        from: oldOnB.publicKey,
        sid: "across-0002",
        kind: "bye",
        reason: "not_supported",
      });
      break;
    }
    expect(forward.undeliverable).toBe(1);

    // Hostile or broken payloads on the channel: dropped, counted, nothing delivered.
    for (const payload of [
      "not json",
      '{"s":"x","to":"server-b","n":1}',
      `{"s":"x","to":"server-b","n":1,"m":{"type":"signal","from":"short","sid":"across-0002","kind":"bye"}}`,
      `{"s":"x","to":"server-b","n":1,"m":{"type":"keepalive"}}`,
    ]) {
      forward.received(payload);
    }
    expect(forward.malformed).toBe(4);
    expect(forward.delivered).toBe(2);
  }, 60_000);
});
