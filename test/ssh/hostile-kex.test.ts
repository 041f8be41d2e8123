// Hostile SSH servers, key exchange: mutated KEX_ECDH_REPLYs, and out-of-order and non-kex
// messages around a strict kex, each against the full SshTransport.connect.
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

import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import * as M from "../../worker/ssh/messages.ts";
import { SshWriter } from "../../worker/ssh/wire.ts";
import { seededBytes } from "../helpers/seeded.ts";
import type { HandshakeHooks } from "./fixtures/fake-server.ts";
import {
  build,
  concat,
  looseLists,
  msg,
  mutate,
  randomMessage,
  rawKexInit,
} from "./fixtures/hostile-builders.ts";
import {
  expectOutcome,
  fuzz,
  HOST_SECRET,
  hostileHooks,
  hostileText,
  outcomeName,
  Tally,
  transportAttempt,
  UTF8,
} from "./fixtures/hostile-kit.ts";

hostileHooks();

describe("hostile server: transport (KEX reply, strict kex)", () => {
  it("survives mutated KEX_ECDH_REPLYs", { timeout: 60_000 }, async () => {
    const tally = new Tally();
    const N = 800;
    // Low-order and non-canonical curve25519 points (libsodium's blocklist).
    const hex = (h: string) => Uint8Array.from(h.match(/../g)!.map((b) => Number.parseInt(b, 16)));
    const lowOrder = [
      new Uint8Array(32),
      hex(`01${"00".repeat(31)}`),
      hex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
      hex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
      hex(`ec${"ff".repeat(30)}7f`),
      hex(`ed${"ff".repeat(30)}7f`),
      hex(`ee${"ff".repeat(30)}7f`),
    ];
    const other = ed25519.utils.randomSecretKey(seededBytes(0x07e)(32));
    const otherBlob = new SshWriter(64)
      .writeString("ssh-ed25519")
      .writeString(ed25519.getPublicKey(other))
      .toBytes();
    const sigBlob = (alg: string, sig: Uint8Array) =>
      new SshWriter(96).writeString(alg).writeString(sig).toBytes();
    const replyOf = (k: Uint8Array, q: Uint8Array, sig: Uint8Array) =>
      msg(M.SSH_MSG_KEX_ECDH_REPLY, (w) => w.writeString(k).writeString(q).writeString(sig));
    await fuzz(tally, N, 0x3f000000, async (rng, seed) => {
      const kind = rng.int(13);
      const KEX_FAILED = M.SSH_DISCONNECT.KEY_EXCHANGE_FAILED;
      let want: Parameters<typeof expectOutcome>[1] = "any";
      const reply: HandshakeHooks["reply"] = (correct, p) => {
        const sig = p.signatureBlob.subarray(4 + 11 + 4);
        switch (kind) {
          case 0: {
            const bad = sig.slice();
            bad[rng.int(64)]! ^= 1 << rng.int(8);
            want = { code: KEX_FAILED, match: /signature .* does not verify/ };
            return [replyOf(p.hostKeyBlob, p.serverPublic, sigBlob("ssh-ed25519", bad))];
          }
          case 1: {
            const forged = ed25519.sign(rng.bytes(32), HOST_SECRET);
            want = { code: KEX_FAILED, match: /does not verify/ };
            return [replyOf(p.hostKeyBlob, p.serverPublic, sigBlob("ssh-ed25519", forged))];
          }
          case 2:
            want = { code: KEX_FAILED, match: /does not verify/ };
            return [replyOf(otherBlob, p.serverPublic, p.signatureBlob)];
          case 3: {
            const blob = rng.pick([
              mutate(rng, p.hostKeyBlob, true),
              new SshWriter(64).writeString("ssh-rsa").writeString(rng.bytes(40)).toBytes(),
              new SshWriter(64)
                .writeString("ecdsa-sha2-nistp256")
                .writeString("nistp256")
                .writeString(rng.bytes(65))
                .toBytes(),
              new SshWriter(64)
                .writeString("ssh-ed25519")
                .writeString(rng.bytes(rng.pick([31, 32, 33])))
                .toBytes(),
              rng.bytes(rng.int(80)),
            ]);
            want = { code: KEX_FAILED };
            return [replyOf(blob, p.serverPublic, p.signatureBlob)];
          }
          case 4: {
            const alg = rng.pick([
              "rsa-sha2-256",
              "ssh-rsa",
              "ecdsa-sha2-nistp256",
              "ssh-ed25519x",
              "",
            ]);
            const len = rng.pick([0, 63, 65, 64]);
            want = { code: KEX_FAILED };
            return [
              replyOf(
                p.hostKeyBlob,
                p.serverPublic,
                sigBlob(alg, concat([sig, sig]).subarray(0, len)),
              ),
            ];
          }
          case 5:
            // A bad ephemeral key is a key exchange failure (KEY_EXCHANGE_FAILED).
            want = { code: KEX_FAILED, match: /curve25519 server key is/ };
            return [
              replyOf(p.hostKeyBlob, rng.bytes(rng.pick([0, 1, 31, 33, 65])), p.signatureBlob),
            ];
          case 6: {
            const i = rng.int(lowOrder.length);
            want =
              i <= 3
                ? { code: KEX_FAILED, match: /curve25519 shared secret rejected/ }
                : { code: [2, 3] };
            return [replyOf(p.hostKeyBlob, lowOrder[i]!, p.signatureBlob)];
          }
          case 7:
            want = { code: 2 };
            return [correct.slice(0, 1 + rng.int(correct.length - 1))];
          case 8:
            want = { code: 2, match: /trailing/ };
            return [concat([correct, rng.bytes(1 + rng.int(8))])];
          case 9:
            want = { code: [2, 3] };
            return [mutate(rng, correct)];
          case 10:
            // The right reply, then a second one (or another kex message) before NEWKEYS.
            want = { code: 2, match: /unexpected message \d+ during key exchange/ };
            return [correct, randomMessage(rng, [M.SSH_MSG_KEX_ECDH_REPLY, 30, 32, 49, 20])];
          case 11:
            want = { code: 2, match: /unexpected message 21/ };
            return [];
          default:
            want = { code: [2, 3] };
            return [randomMessage(rng, [M.SSH_MSG_KEX_ECDH_REPLY])];
        }
      };
      const outcome = await transportAttempt(seed, (s) => s.handshake({ reply }));
      tally.inputs++;
      tally.note(`kind ${kind} ${outcomeName(outcome)}`);
      expectOutcome(outcome, want, `kind ${kind}`);
    });
    tally.finish(N);
  });

  it("survives out-of-order and non-kex messages around a strict kex", {
    timeout: 60_000,
  }, async () => {
    const tally = new Tally();
    const N = 800;
    await fuzz(tally, N, 0x4a000000, async (rng, seed) => {
      const strict = rng.chance(0.75);
      const where = rng.pick(["before", "after", "reply", "newkeys"] as const);
      const wellFormed = [
        build.ignore(rng.bytes(rng.int(40))),
        build.debug(rng.chance(0.5), hostileText(rng)),
        msg(M.SSH_MSG_UNIMPLEMENTED, (w) => w.writeUint32(rng.u32())),
        build.extInfo([["server-sig-algs", UTF8.encode("ssh-ed25519")]]),
        build.serviceAccept(),
        msg(M.SSH_MSG_USERAUTH_SUCCESS),
        build.globalRequest("keepalive@openssh.com", true),
        build.data(0, rng.bytes(8)),
        msg(M.SSH_MSG_NEWKEYS),
        msg(M.SSH_MSG_KEX_ECDH_INIT, (w) => w.writeString(rng.bytes(32))),
      ];
      const injected = rng.chance(0.6) ? rng.pick(wellFormed) : randomMessage(rng);
      const type = injected[0]!;
      const kex = type >= 20 && type <= 49;
      let want: Parameters<typeof expectOutcome>[1] = "any";
      const hooks: HandshakeHooks = {};
      if (!strict) {
        hooks.kexInit = () => rawKexInit(looseLists(), rng.bytes(16));
      }
      if (where === "before") {
        hooks.beforeKexInit = [injected];
        if (strict && (type === M.SSH_MSG_IGNORE || type === M.SSH_MSG_UNIMPLEMENTED)) {
          want = { code: 2, match: /strict key exchange: KEXINIT was not the server's first/ };
        } else if (!strict && injected === wellFormed[0]) {
          want = "connected";
        }
      } else if (where === "after") {
        hooks.afterKexInit = [injected];
        if (strict && type !== M.SSH_MSG_DISCONNECT && !kex) {
          want = { code: 2, match: /strict key exchange: unexpected message/ };
        }
      } else if (where === "reply") {
        const first = rng.chance(0.5);
        hooks.reply = (r) => (first ? [injected, r] : [r, injected]);
        if (strict && type !== M.SSH_MSG_DISCONNECT && !kex) {
          want = { code: 2, match: /strict key exchange: unexpected message/ };
        }
      } else {
        hooks.afterNewKeys = [injected];
      }
      if (type === M.SSH_MSG_DISCONNECT && injected.length >= 9 && where !== "newkeys") {
        want = "any";
      }
      const outcome = await transportAttempt(seed, (s) => s.handshake(hooks));
      tally.inputs++;
      tally.note(`${strict ? "strict" : "loose"} ${where} ${outcomeName(outcome)}`);
      expectOutcome(outcome, want, `${strict ? "strict" : "loose"} ${where} type ${type}`);
    });
    tally.finish(N);
    expect(tally.count("loose before connected")).toBeGreaterThan(0);
  });
});
