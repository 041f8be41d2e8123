// Hostile SSH servers, user authentication: hostile replies to each request, over the full
// client (SshClient.connect) and driven into authenticate() directly.
// Whatever the server sends, the client never crashes, never hangs and never loops: every
// input ends in success or in an SshError (SshAuthError, HostKeyError) with a message; no
// other exception, no unhandled rejection, every attempt settles within BOUND_MS, and the
// client lets go of the stream (its `closed` promise settles).
//
// The server is test/ssh/fixtures/fake-server.ts (a real curve25519 / ed25519 / chacha20-
// poly1305 key exchange with strict kex, so the client's checks run for real).
//
// Seeded hostile inputs (the same on every run). Each section asserts its own count; the
// sections live in separate files, hostile-<file>.test.ts, run as separate processes, so
// their sum is documented here rather than asserted (once one test: total >= 50,000):
//   identification / banner streams, full transport ......... transport  1,500
//   mutated and random KEXINITs, full transport .............. transport  1,200
//   mutated KEX_ECDH_REPLYs, full transport .................. kex        800
//   out-of-order and non-kex messages around strict kex ...... kex        800
//   userauth-phase messages, full client (500 x connect) ..... auth       >= 2,000 (~2,400)
//   userauth messages driven into authenticate() directly .... auth       >= 5,000 (~7,200)
//   connection-layer messages driven into SshConnection ...... connection 25,000
//   connection-layer messages, full client (150 connections) . connection >= 15,000 (~15,200)
//   total .................................................... >= 51,300 (~54,100)
// A seed in a failure message reproduces its case; HOSTILE_SUMMARY=1 prints each section's
// outcome breakdown. Shared helpers: fixtures/hostile-kit.ts and fixtures/hostile-builders.ts.

import { describe, expect, it } from "vitest";
import { SshClient } from "../../worker/ssh/client.ts";
import * as M from "../../worker/ssh/messages.ts";
import { type AuthOptions, authenticate, SshAuthError } from "../../worker/ssh/userauth.ts";
import { bogusNames, build, concat, msg, randomMessage } from "./fixtures/hostile-builders.ts";
import {
  clientBase,
  fuzz,
  hostileHooks,
  hostileText,
  newServer,
  Problem,
  printable,
  type Rng,
  StubTransport,
  settle,
  sshErrorOf,
  Tally,
  within,
} from "./fixtures/hostile-kit.ts";

hostileHooks();

// ---------------------------------------------------------------------------------------
// Userauth: hostile replies to each request, over the full client and into authenticate().

const AUTH_METHODS = [
  "password",
  "keyboard-interactive",
  "publickey",
  "none",
  "hostbased",
  "gssapi-with-mic",
];

/** One hostile reply to an authentication request; banners first. */
function authReply(
  rng: Rng,
  checked: { banners: number },
): { messages: Uint8Array[]; inputs: number } {
  const messages: Uint8Array[] = [];
  for (let i = rng.chance(0.3) ? 1 + rng.int(3) : 0; i > 0; i--) {
    messages.push(
      build.banner(rng.chance(0.95) ? hostileText(rng, 10, true) : Uint8Array.of(0xff, 0xfe, 0x1b)),
    );
    checked.banners++;
  }
  const r = rng.int(10);
  if (r <= 3) {
    const names: string[] = [];
    for (let i = rng.int(5); i > 0; i--)
      names.push(rng.chance(0.7) ? rng.pick(AUTH_METHODS) : bogusNames(rng, 1));
    let list = names.join(",");
    if (rng.chance(0.1)) list = rng.pick([",", "password,,x", "pass word", "\x1b[2J", "pässword"]);
    const m = build.failure(list, rng.chance(0.3));
    messages.push(rng.chance(0.1) ? m.subarray(0, rng.int(m.length)) : m);
  } else if (r <= 6) {
    const count = rng.pick([0, 0, 1, 2, 3, 64, 65, 1000, 0xffffffff]);
    const prompts: [string, boolean][] = [];
    for (let i = count <= 65 && rng.chance(0.8) ? count : rng.int(4); i > 0; i--) {
      prompts.push([hostileText(rng), rng.chance(0.5)]);
    }
    const m = build.infoRequest(hostileText(rng), hostileText(rng, 6, true), count, prompts);
    messages.push(rng.chance(0.1) ? concat([m, rng.bytes(3)]) : m);
  } else if (r === 7) {
    messages.push(msg(M.SSH_MSG_USERAUTH_SUCCESS));
  } else {
    // A random message; a FAILURE follows in case the client took it in its stride (a
    // banner, IGNORE, DEBUG), so it does not wait out its authentication timeout.
    messages.push(
      randomMessage(rng, rng.chance(0.5) ? [50, 51, 53, 60, 61, 6, 80, 91, 94] : undefined),
      build.failure(rng.pick(AUTH_METHODS), false),
    );
  }
  return { messages, inputs: messages.length };
}

function authOptions(rng: Rng, problems: string[]): AuthOptions {
  return {
    username: rng.pick(["u", "root", "\x1b[2J"]),
    password: rng.chance(0.8)
      ? (attempt) => (attempt > 2 && rng.chance(0.3) ? null : "pw")
      : undefined,
    keyboardInteractive: rng.chance(0.8)
      ? async (c) => {
          const texts = [c.name, ...c.prompts.map((p) => p.prompt)];
          if (!texts.every((t) => printable(t)) || !printable(c.instruction, true)) {
            problems.push(`keyboard-interactive text not printable: ${JSON.stringify(c)}`);
          }
          return rng.chance(0.8) ? c.prompts.map(() => "answer") : null;
        }
      : undefined,
    onBanner: (text) => {
      if (!printable(text, true)) problems.push(`banner not printable: ${JSON.stringify(text)}`);
    },
    maxAttempts: 1 + rng.int(3),
  };
}

/** The outcome of authentication: always an SshError (SshAuthError or another code). */
function authOutcome(e: unknown): string {
  const error = sshErrorOf(e);
  return error instanceof SshAuthError ? "SshAuthError" : `code ${error.code} by ${error.by}`;
}

describe("hostile server: user authentication", () => {
  it("survives hostile userauth messages through the full client", {
    timeout: 60_000,
  }, async () => {
    const tally = new Tally();
    const CONNECTIONS = 500;
    await fuzz(tally, CONNECTIONS, 0x5b000000, async (rng, seed) => {
      const server = newServer(seed);
      const checked = { banners: 0 };
      const problems: string[] = [];
      const script = (async () => {
        await server.handshake();
        await server.expect(M.SSH_MSG_SERVICE_REQUEST);
        tally.inputs++;
        if (rng.chance(0.05)) {
          server.send(rng.pick([randomMessage(rng), build.serviceAccept("ssh-connection")]));
        }
        server.send(build.serviceAccept());
        for (let round = 0; round < 10; round++) {
          await server.recv();
          const { messages, inputs } = authReply(rng, checked);
          tally.inputs += inputs;
          server.send(...messages);
        }
        await server.recv();
        server.send(build.failure("", false));
      })();
      const result = await settle(
        within(
          SshClient.connect(server.stream, {
            ...clientBase(seed),
            ...authOptions(rng, problems),
            connection: { keepaliveIntervalMs: 0 },
          }),
          "SshClient.connect",
        ),
      );
      if (result.ok) {
        tally.note("authenticated");
        await result.value.close();
        sshErrorOf(await within(result.value.transport.closed, "closed"));
      } else {
        tally.note(authOutcome(result.error));
      }
      server.close();
      await within(server.clientClosed, "the client releasing the stream");
      await within(settle(script), "the server script");
      if (problems.length > 0) throw new Problem(problems.join("; "));
    });
    tally.finish(2000);
    expect(tally.count("authenticated")).toBeGreaterThan(0);
    expect(tally.count("SshAuthError")).toBeGreaterThan(0);
  });

  it("survives hostile userauth messages driven into authenticate()", {
    timeout: 60_000,
  }, async () => {
    const tally = new Tally();
    const CASES = 2500;
    await fuzz(tally, CASES, 0x6c000000, async (rng) => {
      const stub = new StubTransport();
      const checked = { banners: 0 };
      const problems: string[] = [];
      let replies = 1 + rng.int(6);
      stub.onSend = (payload) => {
        let messages: Uint8Array[];
        if (payload[0] === M.SSH_MSG_SERVICE_REQUEST) {
          messages = rng.chance(0.05) ? [randomMessage(rng)] : [];
          messages.push(build.serviceAccept());
          tally.inputs++;
        } else if (payload[0] === M.SSH_MSG_USERAUTH_REQUEST || payload[0] === 61) {
          if (replies-- > 0) {
            const reply = authReply(rng, checked);
            tally.inputs += reply.inputs;
            messages = reply.messages;
          } else {
            messages = [build.failure("", false)];
          }
        } else {
          return;
        }
        queueMicrotask(() => {
          for (const m of messages) stub.deliver(m);
        });
      };
      const result = await settle(
        within(authenticate(stub.asTransport(), authOptions(rng, problems)), "authenticate"),
      );
      tally.note(result.ok ? "authenticated" : authOutcome(result.error));
      if (stub.handlerThrew !== null) throw new Problem(`handler threw: ${stub.handlerThrew}`);
      if (problems.length > 0) throw new Problem(problems.join("; "));
    });
    tally.finish(5000);
  });
});
