// Capture-like packets, as Linux's ping, a stub resolver and a router would send them, built
// by Python (fixtures/packets.py): shared by the hostile-input tests and the fuzzer.

import { type PySpec, pythonBuild, toHex } from "./python.ts";

/** Linux ping's 56 data bytes: a little-endian struct timeval, then 0x10, 0x11, … 0x37. */
export function pingData(seconds: number, micros: number): Uint8Array {
  const data = new Uint8Array(56);
  const view = new DataView(data.buffer);
  view.setBigUint64(0, BigInt(seconds), true);
  view.setBigUint64(8, BigInt(micros), true);
  for (let i = 16; i < 56; i++) data[i] = i;
  return data;
}

/** A DNS query (RD set) for `name` with `qtype` (1 A, 28 AAAA), transaction id `id`. */
export function dnsQuery(id: number, name: string, qtype: number): Uint8Array {
  const labels = name
    .split(".")
    .flatMap((l) => [l.length, ...Array.from(l, (c) => c.charCodeAt(0))]);
  return Uint8Array.from([
    id >> 8,
    id & 0xff,
    1,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    ...labels,
    0,
    0,
    qtype,
    0,
    1,
  ]);
}

export const V4_HOST = "100.64.0.1";
export const V4_PEER = "100.64.0.2";
export const V6_HOST = "fd7a:115c:a1e0::1";
export const V6_PEER = "fd7a:115c:a1e0::2";

const ping4: PySpec = {
  kind: "ipv4",
  src: V4_HOST,
  dst: V4_PEER,
  proto: 1,
  id: 0x5c3e,
  ttl: 64,
  payload: {
    kind: "icmp4",
    type: 8,
    word: (0x0b7f << 16) | 1,
    payload: toHex(pingData(1718000000, 123456)),
  },
};
const dns4: PySpec = {
  kind: "ipv4",
  src: V4_HOST,
  dst: "100.64.0.53",
  proto: 17,
  id: 0x1f2e,
  df: false,
  payload: {
    kind: "udp",
    sport: 53211,
    dport: 53,
    payload: toHex(dnsQuery(0xabcd, "example.com", 1)),
  },
};
const tcp4: PySpec = {
  kind: "ipv4",
  src: V4_HOST,
  dst: "192.0.2.80",
  proto: 6,
  id: 0x0102,
  payload: "c3500050000000010000000050102000abcd0000".padEnd(2960, "5a"),
};
const ptb4: PySpec = {
  kind: "ipv4",
  src: "10.0.0.1",
  dst: V4_HOST,
  proto: 1,
  ttl: 255,
  id: 0x4242,
  df: false,
  payload: { kind: "icmp4", type: 3, code: 4, word: 1400, payload: { ...tcp4, truncate: 548 } },
};
const unreach4: PySpec = {
  kind: "ipv4",
  src: "100.64.0.53",
  dst: V4_HOST,
  proto: 1,
  id: 0x0007,
  df: false,
  payload: { kind: "icmp4", type: 3, code: 3, payload: dns4 },
};
const opts4: PySpec = {
  kind: "ipv4",
  src: V4_HOST,
  dst: V4_PEER,
  proto: 17,
  options: "0101940400000000",
  payload: { kind: "udp", sport: 5353, dport: 5353, payload: "0000840000000001" },
};
const ping6: PySpec = {
  kind: "ipv6",
  src: V6_HOST,
  dst: V6_PEER,
  proto: 58,
  flow: 0x3e1a5,
  hop: 64,
  payload: {
    kind: "icmp6",
    type: 128,
    word: (0x0b80 << 16) | 3,
    payload: toHex(pingData(1718000001, 654321)),
  },
};
const dns6: PySpec = {
  kind: "ipv6",
  src: V6_HOST,
  dst: "fd7a:115c:a1e0::53",
  proto: 17,
  tc: 0x28,
  payload: {
    kind: "udp",
    sport: 40001,
    dport: 53,
    payload: toHex(dnsQuery(0x1234, "corridor.example", 28)),
  },
};
const tcp6: PySpec = {
  kind: "ipv6",
  src: V6_HOST,
  dst: "2001:db8::80",
  proto: 6,
  payload: "c3510050000000010000000050102000abcd0000".padEnd(2880, "a5"),
};
const ptb6: PySpec = {
  kind: "ipv6",
  src: "fd7a:115c:a1e0::fe",
  dst: V6_HOST,
  proto: 58,
  hop: 255,
  payload: { kind: "icmp6", type: 2, word: 1280, payload: { ...tcp6, truncate: 1232 } },
};
const ext6: PySpec = {
  kind: "ipv6",
  src: V6_HOST,
  dst: V6_PEER,
  proto: 17,
  ext: [
    { type: 0, data: "010400000000" },
    { type: 60, data: "010400000000" },
    { type: 43, routingType: 4, segmentsLeft: 0, data: "00000000" },
    { type: 51, data: "0000100100000001a1a2a3a4a5a6a7a8a9aaabac" },
    { type: 60, data: "1e02abcd01040000000001020000" },
  ],
  payload: { kind: "udp", sport: 9, dport: 9, payload: "6869" },
};

/** The sample packets by name, as Python built them. */
export const SPECS = { ping4, dns4, tcp4, ptb4, unreach4, opts4, ping6, dns6, tcp6, ptb6, ext6 };

const built = pythonBuild(Object.values(SPECS));

/** The sample packets' bytes by name. */
export const SAMPLES = Object.fromEntries(
  Object.keys(SPECS).map((name, i) => [name, built[i]!]),
) as Record<keyof typeof SPECS, Uint8Array>;
