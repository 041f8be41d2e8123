// Closing a login prompt in the page ends the login as "cancelled", not as a failed
// authentication (issue 15, item 8): the browser engine's session (worker/engine/session.ts)
// against the scripted fake server, which accepts no "none" login and offers a password or a
// keyboard-interactive round, whose prompt the page then cancels (answers null).

import { beforeAll, describe, expect, it } from "vitest";
import type { SessionState, SessionUi } from "../../worker/api.ts";
import { type CryptoCore, loadCryptoCore } from "../../worker/crypto/index.ts";
import { nobleX25519 } from "../../worker/crypto/x25519.ts";
import { openTerminalSession } from "../../worker/engine/session.ts";
import type { NetInterface } from "../../worker/net/interface.ts";
import { KnownHosts } from "../../worker/ssh/known-hosts.ts";
import * as M from "../../worker/ssh/messages.ts";
import type { SshByteStream } from "../../worker/ssh/transport.ts";
import { SshWriter } from "../../worker/ssh/wire.ts";
import { FakeServer } from "./fixtures/fake-server.ts";

const HOST = "100.64.0.2";

function netTo(stream: SshByteStream): NetInterface {
  const fake = {
    sourceFor: () => new Uint8Array([100, 64, 0, 1]),
    tcp: { connect: async () => ({ ...stream, abort: () => undefined }) },
  };
  return fake as unknown as NetInterface;
}

describe("engine session: a cancelled login prompt", () => {
  let core: CryptoCore;
  beforeAll(async () => {
    core = await loadCryptoCore();
  });

  for (const method of ["password", "keyboard-interactive"] as const) {
    it(`says "login cancelled" when the ${method} prompt is closed`, async () => {
      const server = new FakeServer({ core });
      const states: [SessionState, string][] = [];
      const asked: string[] = [];
      const ui = {
        onState: (state: SessionState, detail: string) => {
          states.push([state, detail]);
        },
        confirmHostKey: async () => true,
        askPassword: async (prompt: string) => {
          asked.push(prompt);
          return null;
        },
        askInteractive: async () => {
          asked.push("interactive");
          return null;
        },
        onBanner: () => undefined,
      } as unknown as SessionUi;
      const handshake = server.handshake();
      const session = openTerminalSession(
        { networkId: "lab", host: HOST, port: 22, username: "alice", cols: 80, rows: 24 },
        ui,
        new MessageChannel().port1,
        {
          core,
          x25519: nobleX25519,
          net: netTo(server.stream),
          keys: [],
          knownHosts: KnownHosts.parse(""),
          onLearned: async () => undefined,
        },
      ).catch((e: Error) => e);
      await handshake;
      await server.expect(M.SSH_MSG_SERVICE_REQUEST);
      server.send(
        new SshWriter(32).writeByte(M.SSH_MSG_SERVICE_ACCEPT).writeString("ssh-userauth").toBytes(),
      );
      const failure = () =>
        new SshWriter(64)
          .writeByte(M.SSH_MSG_USERAUTH_FAILURE)
          .writeString(method)
          .writeBoolean(false)
          .toBytes();
      await server.expect(M.SSH_MSG_USERAUTH_REQUEST); // "none"
      server.send(failure());
      if (method === "keyboard-interactive") {
        // The round starts; the page's cancel ends it, and the server then refuses.
        await server.expect(M.SSH_MSG_USERAUTH_REQUEST);
        server.send(
          new SshWriter(128)
            .writeByte(M.SSH_MSG_USERAUTH_INFO_REQUEST)
            .writeString("")
            .writeString("")
            .writeString("")
            .writeUint32(1)
            .writeString("Password: ")
            .writeBoolean(false)
            .toBytes(),
        );
        await server.expect(M.SSH_MSG_USERAUTH_INFO_RESPONSE);
        server.send(failure());
      }
      const error = await session;
      server.close();
      expect(asked).toEqual([
        method === "password" ? "alice@100.64.0.2's password:" : "interactive",
      ]);
      const prompt = method === "password" ? "the password prompt" : "the login prompt";
      const expected = `login cancelled: ${prompt} was closed (alice@${HOST})`;
      expect(states.at(-1)).toEqual(["closed", expected]);
      expect(error).toBeInstanceOf(Error);
    });
  }
});
