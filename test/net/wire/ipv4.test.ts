// IPv4: build → parse round trips against packets built by Python's struct, a published
// header, options, padding, the quoted mode, and hostile packets that must be refused.

import { describe, expect, it } from "vitest";
import { checksum } from "../../../worker/net/wire/checksum.ts";
import {
  buildIpv4,
  type Ipv4Fields,
  parseIpv4,
  writeIpv4Header,
} from "../../../worker/net/wire/ipv4.ts";
import { formatIp, parseIp as parseAddress } from "../../../worker/wireguard/ip-address.ts";
import { fromHex, type PySpec, pythonBuild, toHex } from "./python.ts";
import { SAMPLES } from "./samples.ts";

/** Sets a header field and fixes the header checksum, so only that field is wrong. */
function patched(packet: Uint8Array, edit: (p: Uint8Array) => void): Uint8Array {
  const p = packet.slice();
  edit(p);
  const ihl = (p[0]! & 0x0f) * 4;
  if (ihl >= 20 && ihl <= p.length) {
    p[10] = 0;
    p[11] = 0;
    const sum = checksum(p.subarray(0, ihl));
    p[10] = sum >> 8;
    p[11] = sum & 0xff;
  }
  return p;
}

describe("IPv4 against known bytes", () => {
  it("emits the header of a published example (checksum 0xb861)", () => {
    // Wikipedia, "Internet checksum" / "IPv4 header checksum": a UDP packet 192.168.0.1 → .199.
    const header = fromHex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7");
    const fields: Ipv4Fields = {
      source: parseAddress("192.168.0.1"),
      destination: parseAddress("192.168.0.199"),
      protocol: 17,
    };
    const packet = buildIpv4(fields, new Uint8Array(0x73 - 20).fill(0xee));
    expect(toHex(packet.subarray(0, 20))).toBe(toHex(header));
    const parsed = parseIpv4(packet);
    expect(parsed.ok && parsed.checksum).toBe(0xb861);
  });

  const cases: { fields: Ipv4Fields; payload: number }[] = [];
  const combos = [
    { ttl: 64, identification: 0, dontFragment: true, dscp: 0, ecn: 0, protocol: 1 },
    { ttl: 1, identification: 0xffff, dontFragment: false, dscp: 46, ecn: 3, protocol: 17 },
    { ttl: 255, identification: 0x1234, dontFragment: false, dscp: 63, ecn: 1, protocol: 6 },
    { ttl: 128, identification: 0x8001, dontFragment: true, dscp: 10, ecn: 2, protocol: 253 },
  ];
  const addresses = [
    ["100.64.0.1", "100.64.0.2"],
    ["0.0.0.0", "255.255.255.255"],
    ["10.201.0.1", "192.0.2.254"],
  ] as const;
  for (const [i, combo] of combos.entries()) {
    for (const [j, [src, dst]] of addresses.entries()) {
      for (const payload of [0, 1, 7, 1400, 65515]) {
        if ((i + j) % 2 === 1 && payload > 1400) continue;
        cases.push({
          fields: { ...combo, source: parseAddress(src), destination: parseAddress(dst) },
          payload,
        });
      }
    }
  }
  const payloadOf = (n: number) => Uint8Array.from({ length: n }, (_, k) => (k * 7 + n) & 0xff);
  const specs: PySpec[] = cases.map(({ fields: f, payload }) => ({
    kind: "ipv4",
    src: formatIp(f.source),
    dst: formatIp(f.destination),
    proto: f.protocol,
    ttl: f.ttl,
    id: f.identification,
    df: f.dontFragment,
    dscp: f.dscp,
    ecn: f.ecn,
    payload: toHex(payloadOf(payload)),
  }));
  const expected = pythonBuild(specs);

  it(`builds ${cases.length} packets byte for byte as Python's struct does, and parses them back`, () => {
    for (const [k, { fields, payload }] of cases.entries()) {
      const data = payloadOf(payload);
      const packet = buildIpv4(fields, data);
      expect(toHex(packet)).toBe(toHex(expected[k]!));
      const parsed = parseIpv4(expected[k]!);
      if (!parsed.ok) throw new Error(parsed.error);
      expect(parsed).toMatchObject({
        version: 4,
        headerLength: 20,
        totalLength: 20 + payload,
        ttl: fields.ttl,
        protocol: fields.protocol,
        identification: fields.identification,
        dontFragment: fields.dontFragment,
        moreFragments: false,
        dscp: fields.dscp,
        ecn: fields.ecn,
      });
      expect(formatIp(parsed.source)).toBe(formatIp(fields.source));
      expect(formatIp(parsed.destination)).toBe(formatIp(fields.destination));
      expect(toHex(parsed.payload)).toBe(toHex(data));
      expect(parsed.options.length).toBe(0);
    }
  });

  it("parses the capture-like samples (ping, DNS, options, ICMP errors) as Python built them", () => {
    const ping = parseIpv4(SAMPLES.ping4);
    expect(ping).toMatchObject({
      ok: true,
      protocol: 1,
      ttl: 64,
      identification: 0x5c3e,
      totalLength: 84,
    });
    const dns = parseIpv4(SAMPLES.dns4);
    expect(dns).toMatchObject({ ok: true, protocol: 17, dontFragment: false, totalLength: 57 });
    expect(dns.ok && formatIp(dns.destination)).toBe("100.64.0.53");
    const opts = parseIpv4(SAMPLES.opts4);
    if (!opts.ok) throw new Error(opts.error);
    expect(opts.headerLength).toBe(28);
    expect(toHex(opts.options)).toBe("0101940400000000");
    expect(opts.payload.length).toBe(16);
    expect(parseIpv4(SAMPLES.ptb4)).toMatchObject({
      ok: true,
      protocol: 1,
      ttl: 255,
      totalLength: 576,
    });
  });

  it("payload and addresses are views into the received buffer, not copies", () => {
    const parsed = parseIpv4(SAMPLES.ping4);
    if (!parsed.ok) throw new Error(parsed.error);
    expect(parsed.payload.buffer).toBe(SAMPLES.ping4.buffer);
    expect(parsed.payload.byteOffset).toBe(SAMPLES.ping4.byteOffset + 20);
    expect(parsed.source.buffer).toBe(SAMPLES.ping4.buffer);
  });

  it("drops link padding past the total length", () => {
    const padded = new Uint8Array(SAMPLES.dns4.length + 9).fill(0xaa);
    padded.set(SAMPLES.dns4);
    const parsed = parseIpv4(padded);
    expect(parsed.ok && parsed.payload.length).toBe(SAMPLES.dns4.length - 20);
  });

  it("writeIpv4Header writes in place at an offset, around a payload already there", () => {
    const fields: Ipv4Fields = {
      source: parseAddress("100.64.0.1"),
      destination: parseAddress("100.64.0.9"),
      protocol: 17,
      ttl: 9,
    };
    const payload = Uint8Array.of(1, 2, 3, 4, 5);
    const buffer = new Uint8Array(4 + 20 + 5);
    buffer.set(payload, 24);
    expect(writeIpv4Header(buffer, 4, fields, 5)).toBe(20);
    expect(toHex(buffer.subarray(4))).toBe(toHex(buildIpv4(fields, payload)));
  });

  it("refuses to emit impossible packets with a RangeError", () => {
    const ok = { source: new Uint8Array(4), destination: new Uint8Array(4), protocol: 6 };
    expect(() => buildIpv4({ ...ok, source: new Uint8Array(16) }, new Uint8Array(0))).toThrow(
      /source address must be 4 bytes, got 16/,
    );
    expect(() => buildIpv4({ ...ok, destination: new Uint8Array(3) }, new Uint8Array(0))).toThrow(
      RangeError,
    );
    expect(() => buildIpv4(ok, new Uint8Array(65516))).toThrow(/packet of 65536 bytes > 65535/);
    expect(() => writeIpv4Header(new Uint8Array(30), 11, ok, 0)).toThrow(/no room/);
  });
});

describe("IPv4 hostile input", () => {
  it("every truncation of every sample is refused with the exact reason", () => {
    for (const sample of [SAMPLES.ping4, SAMPLES.dns4, SAMPLES.opts4, SAMPLES.unreach4]) {
      const ihl = (sample[0]! & 0x0f) * 4;
      for (let n = 0; n < Math.min(sample.length, 61); n++) {
        const result = parseIpv4(sample.subarray(0, n));
        let want: string;
        if (n === 0) want = "ipv4: empty packet";
        else if (n < 20) want = `ipv4: header truncated (${n} of 20 bytes)`;
        else if (n < ihl) want = `ipv4: header length ${ihl} exceeds the ${n} bytes received`;
        else want = `ipv4: total length ${sample.length} exceeds the ${n} bytes received`;
        expect(result).toEqual({ ok: false, error: want });
      }
    }
  });

  it("refuses other versions, IHL below 5 or past the buffer, and lying total lengths", () => {
    const p = SAMPLES.dns4;
    expect(
      parseIpv4(
        patched(p, (b) => {
          b[0] = 0x65;
        }),
      ),
    ).toEqual({ ok: false, error: "ipv4: version 6, expected 4" });
    for (let ihl = 0; ihl < 5; ihl++) {
      expect(
        parseIpv4(
          patched(p, (b) => {
            b[0] = 0x40 | ihl;
          }),
        ),
      ).toEqual({ ok: false, error: `ipv4: IHL ${ihl} is below 5` });
    }
    const short = patched(p, (b) => {
      b[0] = 0x4f;
    }).subarray(0, 40);
    expect(parseIpv4(short)).toEqual({
      ok: false,
      error: "ipv4: header length 60 exceeds the 40 bytes received",
    });
    const longer = patched(p, (b) => {
      b[3] = p.length + 1;
    });
    expect(parseIpv4(longer)).toEqual({
      ok: false,
      error: `ipv4: total length ${p.length + 1} exceeds the ${p.length} bytes received`,
    });
    const max = patched(p, (b) => {
      b[2] = 0xff;
      b[3] = 0xff;
    });
    expect(parseIpv4(max)).toEqual({
      ok: false,
      error: `ipv4: total length 65535 exceeds the ${p.length} bytes received`,
    });
    const shorter = patched(p, (b) => {
      b[2] = 0;
      b[3] = 19;
    });
    expect(parseIpv4(shorter)).toEqual({
      ok: false,
      error: "ipv4: total length 19 is shorter than the 20-byte header",
    });
    const belowOptions = patched(SAMPLES.opts4, (b) => {
      b[3] = 24;
    });
    expect(parseIpv4(belowOptions)).toEqual({
      ok: false,
      error: "ipv4: total length 24 is shorter than the 28-byte header",
    });
    // A total length shorter than the buffer is fine: the rest is padding, and the payload shrinks.
    const trimmed = parseIpv4(
      patched(p, (b) => {
        b[3] = 30;
      }),
    );
    expect(trimmed.ok && trimmed.payload.length).toBe(10);
  });

  it("refuses a bad header checksum, whichever header byte is damaged", () => {
    for (let i = 1; i < 20; i++) {
      if (i === 2 || i === 3 || i === 6 || i === 7) continue; // length and fragment fields fail first
      const damaged = SAMPLES.ping4.slice();
      damaged[i] = damaged[i]! ^ 0x01;
      expect(parseIpv4(damaged)).toEqual({ ok: false, error: "ipv4: bad header checksum" });
    }
  });

  it("checks option lengths: overruns, lengths below 2, a missing length byte", () => {
    const withOptions = (hex: string) => patched(SAMPLES.opts4, (b) => b.set(fromHex(hex), 20));
    expect(parseIpv4(withOptions("830b0000000000ff"))).toEqual({
      ok: false,
      error: "ipv4: option 0x83 at byte 20 (length 11) overruns the 28-byte header",
    });
    expect(parseIpv4(withOptions("0101018301000000"))).toEqual({
      ok: false,
      error: "ipv4: option 0x83 at byte 23 has length 1 (< 2)",
    });
    expect(parseIpv4(withOptions("8300000000000000"))).toEqual({
      ok: false,
      error: "ipv4: option 0x83 at byte 20 has length 0 (< 2)",
    });
    expect(parseIpv4(withOptions("0101010101010144"))).toEqual({
      ok: false,
      error: "ipv4: option 0x44 at byte 27 has no length byte",
    });
    expect(parseIpv4(withOptions("01019404000001ff"))).toEqual({
      ok: false,
      error: "ipv4: option 0xff at byte 27 has no length byte",
    });
    // End of Option List: whatever follows is padding and is not read.
    expect(parseIpv4(withOptions("0100ffffffffffff")).ok).toBe(true);
    expect(parseIpv4(withOptions("0101010101010101")).ok).toBe(true);
    expect(parseIpv4(withOptions("4408050000000000")).ok).toBe(true);
  });

  it("refuses fragments with fragment: true (MF set, offset non-zero, or both)", () => {
    const frag = { ok: false, error: "fragment", fragment: true };
    expect(
      parseIpv4(
        patched(SAMPLES.dns4, (b) => {
          b[6] = 0x20;
        }),
      ),
    ).toEqual(frag);
    expect(
      parseIpv4(
        patched(SAMPLES.dns4, (b) => {
          b[7] = 0xb9;
        }),
      ),
    ).toEqual(frag);
    expect(
      parseIpv4(
        patched(SAMPLES.dns4, (b) => {
          b[6] = 0x3f;
          b[7] = 0xff;
        }),
      ),
    ).toEqual(frag);
    // DF alone, and the reserved bit, are not fragments.
    expect(
      parseIpv4(
        patched(SAMPLES.dns4, (b) => {
          b[6] = 0x40;
        }),
      ).ok,
    ).toBe(true);
    expect(
      parseIpv4(
        patched(SAMPLES.dns4, (b) => {
          b[6] = 0x80;
        }),
      ).ok,
    ).toBe(true);
  });

  it("quoted mode reads a cut-short original with an unchecked checksum, and a first fragment", () => {
    const quote = SAMPLES.tcp4.slice(0, 28);
    expect(parseIpv4(quote)).toEqual({
      ok: false,
      error: "ipv4: total length 1500 exceeds the 28 bytes received",
    });
    const parsed = parseIpv4(quote, { quoted: true });
    expect(parsed).toMatchObject({ ok: true, protocol: 6, totalLength: 1500 });
    expect(parsed.ok && toHex(parsed.payload)).toBe("c350005000000001");
    quote[8] = 1; // TTL changed: the checksum no longer matches
    expect(parseIpv4(quote, { quoted: true }).ok).toBe(true);
    const first = patched(quote, (b) => {
      b[6] = 0x20;
    });
    expect(parseIpv4(first, { quoted: true })).toMatchObject({ ok: true, moreFragments: true });
    const later = patched(quote, (b) => {
      b[7] = 1;
    });
    expect(parseIpv4(later, { quoted: true })).toEqual({
      ok: false,
      error: "fragment",
      fragment: true,
    });
    expect(parseIpv4(quote.subarray(0, 19), { quoted: true })).toEqual({
      ok: false,
      error: "ipv4: header truncated (19 of 20 bytes)",
    });
  });
});
