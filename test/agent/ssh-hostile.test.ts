// Hostile bytes at the identity SSH server: seeded garbage, truncated and mutated handshakes,
// and clients that ask for odd user names, never take the agent down; each connection is
// closed and its slot given back, and a real login works afterwards.

import { connect } from "node:net";
import { Client as Ssh2Client } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededBytes, seededInts } from "../helpers/seeded.ts";
import { waitUntil } from "../helpers/wait.ts";
import { run, SshHarness, sshPrereq } from "./ssh-harness.ts";

const needs = sshPrereq();
const INPUTS = 150;

/** Sends `bytes` on a new connection, then half-closes; resolves when the server closed it. */
function throwAt(port: number, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => socket.end(bytes));
    socket.on("error", () => resolve());
    socket.on("close", () => resolve());
    // Drain what the server says (its version line, a disconnect) so its FIN is seen.
    socket.resume();
  });
}

describe.skipIf(needs.skip)("identity SSH under hostile input", () => {
  let h: SshHarness;
  beforeAll(async () => {
    needs.assert();
    h = await SshHarness.start({ maxConnectionsPerCaller: 4, authTimeoutMs: 5_000 });
    h.identity.rules = [{ src: { any: true }, users: ["root"], action: "accept" }];
  });
  afterAll(async () => {
    await h?.stop();
  });

  it(`survives ${INPUTS} seeded garbage and mutated handshakes, then serves a login`, async () => {
    const bytes = seededBytes(0x55_4a_17);
    const ints = seededInts(0x55_4a_18);
    const version = new TextEncoder().encode("SSH-2.0-OpenSSH_9.2\r\n");
    for (let i = 0; i < INPUTS; i++) {
      let input: Uint8Array;
      const kind = i % 3;
      if (kind === 0) {
        input = bytes(ints(4096));
      } else if (kind === 1) {
        // A valid version line, then a packet length and random payload.
        input = Buffer.concat([version, bytes(ints(2048) + 5)]);
      } else {
        // A version line with bytes flipped, or overlong.
        const line = Buffer.from(version);
        for (let k = ints(3) + 1; k > 0; k--) line[ints(line.length)] = bytes(1)[0]!;
        input = Buffer.concat([
          line,
          ints(2) === 0 ? Buffer.alloc(ints(70_000), 0x41) : Buffer.alloc(0),
        ]);
      }
      await throwAt(h.port, input);
    }
    await waitUntil(() => h.server.connections === 0, "every hostile connection to be released");
    const r = await h.ssh("root", ["echo still-$((1+1))"]);
    expect(r.stdout).toBe("still-2\n");
  });

  it("refuses user names that are no valid account name", async () => {
    for (const user of ["a:b", ".hidden", "x".repeat(40)]) {
      // -l passes the name as is (OpenSSH itself refuses names that start with "-").
      const r = await run(
        "/usr/bin/ssh",
        [...h.sshOptions(), "-p", String(h.port), "-l", user, "127.0.0.1", "id"],
        "",
      );
      expect(r.code).toBe(255);
      expect(r.stdout).toBe("");
    }
    const refused = h.events("ssh_login_refused").map((e) => e.outcome);
    expect(refused.slice(-3)).toEqual(["not-allowed", "not-allowed", "not-allowed"]);
    // A name too long to even look at is refused before any decision, and logged too.
    const long = await run(
      "/usr/bin/ssh",
      [...h.sshOptions(), "-p", String(h.port), "-l", "y".repeat(300), "127.0.0.1", "id"],
      "",
    );
    expect(long.code).toBe(255);
    const last = h.events("ssh_login_refused").at(-1);
    expect(last).toMatchObject({ outcome: "bad-user-name", length: 300 });
  });

  it("closes a connection that changes its user name during authentication: one lookup each", async () => {
    const names = ["alice", "bob", "carol", "dave", "erin"];
    let asked = 0;
    const before = h.events("ssh_login_refused").length;
    const client = new Ssh2Client();
    const closed = new Promise<void>((resolve) => client.on("close", () => resolve()));
    client.on("error", () => undefined);
    client.connect({
      host: "127.0.0.1",
      port: h.port,
      username: names[0]!,
      readyTimeout: 30_000,
      // Walks through the names (round and round, should the server let it): the
      // readyTimeout ends the test if the server never closes.
      authHandler: (_methods, _partial, next) => {
        next({ type: "none", username: names[asked++ % names.length]! });
      },
    });
    await closed;
    // The first name was decided and refused; the second name ended the connection.
    expect(h.events("ssh_login_refused").length - before).toBe(1);
    expect(asked).toBeLessThanOrEqual(2);
  });
});
