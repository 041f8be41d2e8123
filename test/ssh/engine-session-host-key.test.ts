// The browser engine's terminal session (worker/engine/session.ts) and a host known by a key of
// another type: its KEXINIT puts the network's known host key types first (as `corridor ssh`
// and ssh(1) do), and a server that presents a key of another type is a hard stop with both
// fingerprints; the page is never asked to trust it. The server is the scripted fake server
// (a real key exchange with an ed25519 host key) on an in-memory stream.

import { beforeAll, describe, expect, it } from "vitest";
import type { HostKeyPrompt, SessionState, SessionUi } from "../../worker/api.ts";
import { type CryptoCore, loadCryptoCore } from "../../worker/crypto/index.ts";
import { nobleX25519 } from "../../worker/crypto/x25519.ts";
import { openTerminalSession } from "../../worker/engine/session.ts";
import type { NetInterface } from "../../worker/net/interface.ts";
import { encodeBase64, fingerprintSha256 } from "../../worker/ssh/fingerprint.ts";
import { parseKexInit } from "../../worker/ssh/kex/kexinit.ts";
import { generateUserKey } from "../../worker/ssh/keys/user-key.ts";
import { KnownHosts } from "../../worker/ssh/known-hosts.ts";
import * as M from "../../worker/ssh/messages.ts";
import type { SshByteStream } from "../../worker/ssh/transport.ts";
import { encodeIdentification } from "../../worker/ssh/version.ts";
import { FAKE_SERVER_ID, FakeServer } from "./fixtures/fake-server.ts";

const HOST = "100.64.0.2";
const EC_KNOWN = generateUserKey("ecdsa-sha2-nistp256").publicBlob;

/** A NetInterface whose every TCP connection is `stream` (the session uses only these). */
function netTo(stream: SshByteStream): NetInterface {
  const fake = {
    sourceFor: () => new Uint8Array([100, 64, 0, 1]),
    tcp: { connect: async () => ({ ...stream, abort: () => undefined }) },
  };
  return fake as unknown as NetInterface;
}

/** A SessionUi that records states and host key questions, and answers nothing else. */
function recordingUi() {
  const states: [SessionState, string][] = [];
  const asked: HostKeyPrompt[] = [];
  const ui: SessionUi = {
    onState: (state, detail) => {
      states.push([state, detail]);
    },
    confirmHostKey: async (prompt) => {
      asked.push(prompt);
      return true;
    },
    askPassword: async () => null,
    askInteractive: async () => null,
    onBanner: () => undefined,
  } as SessionUi;
  return { ui, states, asked };
}

describe("engine session: host known by a key of another type", () => {
  let core: CryptoCore;
  beforeAll(async () => {
    core = await loadCryptoCore();
  });

  const open = (server: FakeServer, knownHosts: KnownHosts, ui: SessionUi) =>
    openTerminalSession(
      { networkId: "lab", host: HOST, port: 22, username: "alice", cols: 80, rows: 24 },
      ui,
      new MessageChannel().port1,
      {
        core,
        x25519: nobleX25519,
        net: netTo(server.stream),
        keys: [],
        knownHosts,
        onLearned: async () => undefined,
      },
    );

  it("offers the known key type first in its KEXINIT", async () => {
    const server = new FakeServer({ core });
    const knownHosts = KnownHosts.parse(`${HOST} ecdsa-sha2-nistp256 ${encodeBase64(EC_KNOWN)}\n`);
    const { ui } = recordingUi();
    const session = open(server, knownHosts, ui).catch((e: Error) => e);
    server.sendRaw(encodeIdentification(FAKE_SERVER_ID));
    const clientInit = parseKexInit(await server.expect(M.SSH_MSG_KEXINIT));
    expect(clientInit.hostKey[0]).toBe("ecdsa-sha2-nistp256");
    expect(clientInit.hostKey).toContain("ssh-ed25519");
    server.close();
    expect(await session).toBeInstanceOf(Error);

    // A host the network knows nothing about gets the default order (ed25519 first).
    const fresh = new FakeServer({ core });
    const other = open(fresh, KnownHosts.parse(""), recordingUi().ui).catch((e: Error) => e);
    fresh.sendRaw(encodeIdentification(FAKE_SERVER_ID));
    expect(parseKexInit(await fresh.expect(M.SSH_MSG_KEXINIT)).hostKey[0]).toBe("ssh-ed25519");
    fresh.close();
    await other;
  });

  it("refuses an ed25519 key for a host known by ECDSA, without asking the page", async () => {
    const server = new FakeServer({ core });
    const text = `${HOST} ecdsa-sha2-nistp256 ${encodeBase64(EC_KNOWN)}\n`;
    const knownHosts = KnownHosts.parse(text);
    const { ui, states, asked } = recordingUi();
    const handshake = server.handshake().catch(() => undefined);
    const error = await open(server, knownHosts, ui).catch((e: Error) => e);
    await handshake;
    server.close();
    const expected = `HOST KEY FOR ${HOST} HAS CHANGED: the server sent ssh-ed25519 ${fingerprintSha256(server.hostKeyBlob)}, but the known key is ecdsa-sha2-nistp256 ${fingerprintSha256(EC_KNOWN)} (line 1), and the server offered no key of the known type. Someone could be intercepting the connection (or the host key was replaced). Refusing to connect.`;
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(expected);
    expect(asked).toEqual([]);
    expect(states.at(-1)).toEqual(["closed", expected]);
    expect(knownHosts.toString()).toBe(text);
  });
});
