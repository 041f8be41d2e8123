// Byte-exact against test/vectors/wireguard-handshake.json (provenance: PROVENANCE.md there):
// two complete handshakes (without and with a preshared key) computed from the WireGuard paper
// and checked against wireguard-go. Fixed ephemeral keys, indices, timestamp, cookie secret and
// nonce are injected.

import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { type CryptoCore, loadCryptoCore, nobleX25519 } from "../../worker/crypto/index.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { CookieChecker, CookieGenerator } from "../../worker/wireguard/cookie.ts";
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  type NoiseCrypto,
} from "../../worker/wireguard/noise.ts";

interface VectorCase {
  name: string;
  [field: string]: string | number;
}
const file = new URL("../vectors/wireguard-handshake.json", import.meta.url);
const cases = (JSON.parse(readFileSync(file, "utf8")) as { cases: VectorCase[] }).cases;

function hex(s: string | number | undefined): Uint8Array {
  if (typeof s !== "string") throw new Error("vector field missing");
  return Uint8Array.from(s.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
}
function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

let core: CryptoCore;
let nc: NoiseCrypto;
beforeAll(async () => {
  core = await loadCryptoCore();
  nc = { core, x25519: nobleX25519 };
});

for (const v of cases) {
  describe(`vector: ${v.name}`, () => {
    const iStatic = {
      privateKey: hex(v.initiator_static_private),
      publicKey: hex(v.initiator_static_public),
    };
    const rStatic = {
      privateKey: hex(v.responder_static_private),
      publicKey: hex(v.responder_static_public),
    };
    const iEphemeral = {
      privateKey: hex(v.initiator_ephemeral_private),
      publicKey: hex(v.initiator_ephemeral_public),
    };
    const rEphemeral = {
      privateKey: hex(v.responder_ephemeral_private),
      publicKey: hex(v.responder_ephemeral_public),
    };
    const psk = hex(v.preshared_key);

    async function initiation() {
      const clock = new FakeClock();
      const staticShared = await nobleX25519.sharedSecret(iStatic.privateKey, rStatic.publicKey);
      const made = await createInitiation(nc, {
        localStatic: iStatic,
        remoteStatic: rStatic.publicKey,
        staticShared,
        presharedKey: psk,
        ephemeral: iEphemeral,
        localIndex: Number(v.initiator_sender_index),
        timestamp: hex(v.timestamp_tai64n),
      });
      const generator = new CookieGenerator(core, rStatic.publicKey, clock);
      generator.addMacs(made.message);
      return { ...made, generator, clock };
    }

    it("builds the initiation byte for byte", async () => {
      const { message } = await initiation();
      expect(toHex(message)).toBe(v.initiation);
    });

    it("our responder accepts the vector's initiation and builds the response byte for byte", async () => {
      const clock = new FakeClock();
      const checker = new CookieChecker(core, rStatic.publicKey, clock);
      const message = hex(v.initiation);
      expect(checker.checkMac1(message)).toBe(true);
      const rss = await nobleX25519.sharedSecret(rStatic.privateKey, iStatic.publicKey);
      const consumed = await consumeInitiation(nc, rStatic, message, (pub) =>
        toHex(pub) === toHex(iStatic.publicKey) ? rss : undefined,
      );
      expect(consumed).toBeDefined();
      expect(toHex(consumed!.remoteStatic)).toBe(v.initiator_static_public);
      expect(toHex(consumed!.timestamp)).toBe(v.timestamp_tai64n);
      expect(consumed!.remoteIndex).toBe(Number(v.initiator_sender_index));
      const { message: response, keys } = await createResponse(nc, consumed!, {
        ephemeral: rEphemeral,
        localIndex: Number(v.responder_sender_index),
        presharedKey: psk,
      });
      new CookieGenerator(core, iStatic.publicKey, clock).addMacs(response);
      expect(toHex(response)).toBe(v.response);
      expect(toHex(keys.send)).toBe(v.transport_key_responder_send);
      expect(toHex(keys.receive)).toBe(v.transport_key_initiator_send);
    });

    it("the initiator consumes the vector's response and derives the transport keys", async () => {
      const { handshake } = await initiation();
      const done = await consumeResponse(nc, handshake, hex(v.response));
      expect(done).toBeDefined();
      expect(done!.remoteIndex).toBe(Number(v.responder_sender_index));
      expect(toHex(done!.keys.send)).toBe(v.transport_key_initiator_send);
      expect(toHex(done!.keys.receive)).toBe(v.transport_key_responder_send);
    });

    it("builds the cookie reply, and the initiation with mac2 after consuming it", async () => {
      const { message, generator } = await initiation();
      const clock = new FakeClock();
      const randoms = [hex(v.cookie_secret_rm), hex(v.cookie_reply_nonce)];
      const checker = new CookieChecker(core, rStatic.publicKey, clock, () => randoms.shift()!);
      const source = hex(v.cookie_source_ipv4_port);
      const reply = checker.createReply(message, Number(v.initiator_sender_index), source);
      expect(toHex(reply)).toBe(v.cookie_reply);
      expect(generator.consumeReply(reply)).toBe(true);
      generator.addMacs(message);
      expect(toHex(message)).toBe(v.initiation_with_mac2);
      expect(checker.checkMac2(message, source)).toBe(true);
      expect(checker.checkMac2(message, Uint8Array.of(192, 0, 2, 8, 0xca, 0x6c))).toBe(false);
    });

    it("seals the keepalives and the data packet byte for byte", () => {
      const seal = (key: Uint8Array, receiver: number, counter: number, plain: Uint8Array) => {
        const padded = new Uint8Array(Math.ceil(plain.length / 16) * 16);
        padded.set(plain);
        const nonce = new Uint8Array(12);
        new DataView(nonce.buffer).setBigUint64(4, BigInt(counter), true);
        const header = new Uint8Array(16);
        const view = new DataView(header.buffer);
        view.setUint32(0, 4, true);
        view.setUint32(4, receiver, true);
        view.setBigUint64(8, BigInt(counter), true);
        return toHex(header) + toHex(core.aeadSeal(key, nonce, padded));
      };
      const iSend = hex(v.transport_key_initiator_send);
      const rSend = hex(v.transport_key_responder_send);
      const rIndex = Number(v.responder_sender_index);
      const iIndex = Number(v.initiator_sender_index);
      expect(seal(iSend, rIndex, 0, new Uint8Array(0))).toBe(
        v.keepalive_initiator_to_responder_counter0,
      );
      expect(seal(rSend, iIndex, 0, new Uint8Array(0))).toBe(
        v.keepalive_responder_to_initiator_counter0,
      );
      expect(seal(iSend, rIndex, 1, hex(v.inner_packet_ipv4_icmp_echo))).toBe(
        v.data_initiator_to_responder_counter1,
      );
    });
  });
}
