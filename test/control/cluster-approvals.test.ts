// Approvals behind a load balancer (two control servers on one PostgreSQL): an agent joins
// without an auth key and waits on server A; the person's browser reaches server B. B's API
// shows the request and approves it: the agent's stream on A continues with its map, the node
// belongs to the approver, and B wrote the audit entry. A denial through B refuses the agent on
// A; a request whose agent left is gone on B too.

import { expect, it } from "vitest";
import { ControlClient } from "../../worker/control/client.ts";
import { nobleX25519 } from "../../worker/crypto/x25519.ts";
import { systemClock } from "../../worker/wireguard/clock.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { postgresPrereq } from "../helpers/postgres.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import {
  initCrypto,
  type Member,
  recordingConnect,
  seedDatabase,
  startMember,
  usePostgres,
} from "./cluster-harness.ts";

const pgNeed = postgresPrereq();

describeWithPrereq(pgNeed, "approvals across two control servers", () => {
  const fixture = usePostgres();
  const { cleanup } = fixture;

  it("an agent waiting on A is approved or denied through B's API", async () => {
    const core = await initCrypto();
    const { url, alice, apiKey } = await seedDatabase(fixture.pg, "cluster_approvals");
    const a: Member = await startMember(url, "server-a", core);
    cleanup.push(() => a.close());
    const b: Member = await startMember(url, "server-b", core);
    cleanup.push(() => b.close());

    /** An agent with no auth key on A: it is told to wait, with its approval URL. */
    const agent = (hostname: string) => {
      const closes: { code: number; reason: string }[] = [];
      const seen = { url: "", refused: "", peers: -1 };
      const client = new ControlClient({
        url: a.url,
        privateKey: generatePrivateKey(),
        core,
        x25519: nobleX25519,
        connect: recordingConnect(closes),
        hostinfo: { hostname, os: "linux" },
        clock: systemClock,
        onWaiting: (approvalUrl) => {
          seen.url = approvalUrl;
        },
        onMap: (_diff, state) => {
          seen.peers = state.peers.size;
        },
        onRefused: (refusal) => {
          seen.refused = refusal.code;
        },
      });
      cleanup.push(() => client.close());
      // Rejects when refused (the denial below): seen.refused says so.
      client.start().catch(() => {});
      return { client, seen };
    };
    const api = (method: string, id: string, body?: unknown) =>
      b.control.api.fetch(
        new Request(`http://127.0.0.1:${b.port}/api/v1/approvals/${id}`, {
          method,
          headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        }),
      );
    const idOf = (approvalUrl: string) => approvalUrl.split("/approve/")[1]!;

    const build = agent("build-01");
    await waitUntil(() => build.seen.url !== "", "build-01 waits on A", { hangAfterMs: 10_000 });
    const id = idOf(build.seen.url);
    // B heard of it: its API shows the request.
    let shown: Response | undefined;
    const poll = (approvalId: string) => async () => {
      shown = await api("GET", approvalId);
    };
    await waitUntil(() => shown?.status === 200, "B shows A's request", {
      poll: poll(id),
      hangAfterMs: 10_000,
    });
    expect(((await shown!.json()) as { approval: { hostname: string } }).approval.hostname).toBe(
      "build-01",
    );
    const approved = await api("POST", id, { approve: true });
    expect(approved.status).toBe(200);
    expect(await approved.json()).toEqual({ approved: true });
    await waitUntil(() => build.seen.peers >= 0, "build-01 got its map on A", {
      hangAfterMs: 10_000,
    });
    const node = (await a.store.listNodes()).find((n) => n.hostname === "build-01");
    expect(node?.userId).toBe(alice.id);
    const entries = await b.store.listAudit(10);
    expect(entries.some((e) => e.action === "approval.approve" && e.target.includes(id))).toBe(
      true,
    );
    // Decided: gone on both.
    const again = await api("POST", id, { approve: true });
    expect(again.status).toBe(404);

    const other = agent("laptop-07");
    await waitUntil(() => other.seen.url !== "", "laptop-07 waits on A", { hangAfterMs: 10_000 });
    const otherId = idOf(other.seen.url);
    await waitUntil(() => shown?.status === 200, "B shows it", {
      poll: poll(otherId),
      hangAfterMs: 10_000,
    });
    const denied = await api("POST", otherId, { approve: false });
    expect(await denied.json()).toEqual({ approved: false });
    await waitUntil(() => other.seen.refused === "approval_denied", "laptop-07 refused on A", {
      hangAfterMs: 10_000,
    });

    const leaving = agent("tablet-02");
    await waitUntil(() => leaving.seen.url !== "", "tablet-02 waits on A", { hangAfterMs: 10_000 });
    const leavingId = idOf(leaving.seen.url);
    await waitUntil(() => shown?.status === 200, "B shows it", {
      poll: poll(leavingId),
      hangAfterMs: 10_000,
    });
    leaving.client.close();
    await waitUntil(
      () => shown?.status === 404,
      "its request is gone on B once its stream ended on A",
      { poll: poll(leavingId), hangAfterMs: 10_000 },
    );
  }, 60_000);
});
