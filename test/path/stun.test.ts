// The STUN codec (worker/path/stun.ts): RFC 5769's sample responses, round trips of what we
// encode, strict refusals, and a seeded fuzz (30,000 inputs: random bytes and mutations of
// valid messages) under which parsing never throws and never reads outside the datagram.

import { crc32 as zlibCrc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  crc32,
  encodeBindingError,
  encodeBindingRequest,
  encodeBindingSuccess,
  errorCode,
  looksLikeStun,
  mappedAddress,
  parseStun,
  STUN_BINDING,
  StunAttr,
  type StunMessage,
  stunType,
  unknownRequired,
} from "../../worker/path/stun.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

function parsed(bytes: Uint8Array): StunMessage {
  const result = parseStun(bytes);
  if (!result.ok) throw new Error(result.error);
  return result.message;
}

// RFC 5769 §2.2 and §2.3: sample IPv4 and IPv6 responses (with SOFTWARE, MESSAGE-INTEGRITY and
// FINGERPRINT) from a server that is not ours.
const HEADER_V4 = [0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42];
const TID = [0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae];
const SOFTWARE = [
  0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
];
const RFC5769_V4 = new Uint8Array([
  ...HEADER_V4,
  ...TID,
  ...SOFTWARE,
  ...[0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43],
  ...[0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3],
  ...[0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7],
  ...[0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96],
]);
const RFC5769_V6 = new Uint8Array([
  ...[0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42],
  ...TID,
  ...SOFTWARE,
  ...[0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa],
  ...[0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9],
  ...[0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1],
  ...[0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41],
  ...[0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c],
]);

describe("STUN codec", () => {
  it("reads RFC 5769's sample responses", () => {
    const v4 = parsed(RFC5769_V4);
    expect(v4.cls).toBe("success");
    expect(v4.method).toBe(STUN_BINDING);
    expect(v4.fingerprint).toBe(true);
    expect(mappedAddress(v4)).toEqual({ family: 4, address: "192.0.2.1", port: 32853 });
    const v6 = parsed(RFC5769_V6);
    expect(v6.fingerprint).toBe(true);
    expect(mappedAddress(v6)).toEqual({
      family: 6,
      address: "2001:db8:1234:5678:11:2233:4455:6677",
      port: 32853,
    });
  });

  it("computes CRC-32 as zlib does", () => {
    const bytes = seededBytes(1)(1000);
    for (const n of [0, 1, 7, 64, 1000]) {
      expect(crc32(bytes.subarray(0, n))).toBe(zlibCrc32(bytes.subarray(0, n)));
    }
  });

  it("round-trips requests, success and error responses", () => {
    const random = seededBytes(2);
    const id = random(12);
    const request = parsed(encodeBindingRequest(id, true));
    expect(request).toMatchObject({ cls: "request", method: STUN_BINDING, fingerprint: true });
    expect([...request.transactionId]).toEqual([...id]);
    for (const mapped of [
      { family: 4 as const, address: "203.0.113.9", port: 1 },
      { family: 6 as const, address: "2001:db8::1", port: 65535 },
    ]) {
      const answer = parsed(encodeBindingSuccess(id, mapped));
      expect(mappedAddress(answer)).toEqual(mapped);
    }
    // A dual-stack socket's IPv4-mapped source is reported as IPv4.
    const dual = parsed(
      encodeBindingSuccess(id, { family: 6, address: "::ffff:10.1.2.3", port: 9 }),
    );
    expect(mappedAddress(dual)).toEqual({ family: 4, address: "10.1.2.3", port: 9 });
    const error = parsed(encodeBindingError(id, 420, "Unknown Attribute", [0x0003, 0x7fff], true));
    expect(error.cls).toBe("error");
    expect(errorCode(error)).toEqual({ code: 420, reason: "Unknown Attribute" });
    expect(unknownRequired(error, new Set([StunAttr.ERROR_CODE]))).toEqual([
      StunAttr.UNKNOWN_ATTRIBUTES,
    ]);
  });

  it("reads MAPPED-ADDRESS from servers of RFC 3489's time", () => {
    const id = new Uint8Array(12);
    const message = encodeBindingSuccess(id, { family: 4, address: "198.51.100.4", port: 4000 });
    // Rewrite the attribute as plain MAPPED-ADDRESS with the address in clear.
    const view = new DataView(message.buffer);
    view.setUint16(20, StunAttr.MAPPED_ADDRESS);
    view.setUint16(26, 4000);
    message.set([198, 51, 100, 4], 28);
    expect(mappedAddress(parsed(message))).toEqual({
      family: 4,
      address: "198.51.100.4",
      port: 4000,
    });
  });

  it("refuses malformed messages with a reason", () => {
    const good = encodeBindingRequest(new Uint8Array(12), true);
    const cases: [string, Uint8Array][] = [
      ["shorter than", good.subarray(0, 19)],
      ["first two bits", Uint8Array.from(good, (b, i) => (i === 0 ? b | 0x80 : b))],
      ["magic cookie", Uint8Array.from(good, (b, i) => (i === 5 ? 0 : b))],
      ["multiple of 4", Uint8Array.from(good, (b, i) => (i === 3 ? 6 : b))],
      ["does not match", good.subarray(0, 24)],
      ["FINGERPRINT does not match", Uint8Array.from(good, (b, i) => (i === 27 ? b ^ 1 : b))],
    ];
    for (const [reason, bytes] of cases) {
      const result = parseStun(bytes);
      expect(result.ok, reason).toBe(false);
      if (!result.ok) expect(result.error).toContain(reason);
    }
    // An attribute whose length runs past the end.
    const long = encodeBindingSuccess(new Uint8Array(12), {
      family: 4,
      address: "1.2.3.4",
      port: 5,
    });
    new DataView(long.buffer).setUint16(22, 9);
    expect(parseStun(long)).toMatchObject({ ok: false });
    // An attribute after FINGERPRINT.
    const after = new Uint8Array(good.length + 4);
    after.set(good);
    new DataView(after.buffer).setUint16(2, good.length + 4 - 20);
    expect(parseStun(after)).toMatchObject({ ok: false });
  });

  it("survives a seeded fuzz of 30,000 inputs without throwing", () => {
    const bytes = seededBytes(0x5757);
    const int = seededInts(0x5758);
    const id = bytes(12);
    const seeds = [
      encodeBindingRequest(id, true),
      encodeBindingSuccess(id, { family: 6, address: "2001:db8::5", port: 7 }, true),
      encodeBindingError(id, 420, "x", [1, 2, 3]),
      RFC5769_V4,
      RFC5769_V6,
    ];
    let accepted = 0;
    for (let i = 0; i < 30_000; i++) {
      let input: Uint8Array;
      if (i % 3 === 0) {
        input = bytes(int(120));
        // Give some random inputs a valid header so the attribute walk is exercised.
        if (input.length >= 20 && i % 2 === 0) {
          input[0] = (input[0] as number) & 0x3f;
          const view = new DataView(input.buffer);
          view.setUint32(4, 0x2112a442);
          view.setUint16(2, (input.length - 20) & ~3);
          input = input.subarray(0, 20 + ((input.length - 20) & ~3));
        }
      } else {
        input = Uint8Array.from(seeds[int(seeds.length)] as Uint8Array);
        const flips = 1 + int(4);
        for (let f = 0; f < flips; f++) input[int(input.length)] = int(256);
        if (i % 5 === 0) input = input.subarray(0, int(input.length + 1));
      }
      const result = parseStun(input);
      if (!result.ok) {
        expect(typeof result.error).toBe("string");
        continue;
      }
      accepted++;
      expect(looksLikeStun(input)).toBe(true);
      for (const a of result.message.attributes) {
        const offset = a.value.byteOffset - input.byteOffset;
        expect(offset).toBeGreaterThanOrEqual(20);
        expect(offset + a.value.length).toBeLessThanOrEqual(input.length);
      }
      mappedAddress(result.message);
      errorCode(result.message);
      expect(stunType(result.message.method, result.message.cls)).toBe(
        new DataView(input.buffer, input.byteOffset).getUint16(0),
      );
    }
    // The mutations must reach the accepting path too, or the fuzz checks little.
    expect(accepted).toBeGreaterThan(1000);
  });
});
