// The WebRTC signalling checks (issue 19): real-looking Chromium and werift descriptions and
// candidates are accepted, each rule refuses with its own sentence, and a seeded fuzz of
// mutated fixtures shows the checks never throw and accept nothing that breaks the invariants
// checked here independently of the validators (printable ASCII, one m=application, bounds).

import { describe, expect, it } from "vitest";
import {
  candidateReason,
  midReason,
  SIGNAL_LIMITS,
  sdpReason,
} from "../../worker/control/signal-values.ts";
import { seededInts } from "../helpers/seeded.ts";
import { CANDIDATES, CHROMIUM_OFFER, FINGERPRINT } from "./signal-fixtures.ts";

/** An answer as werift writes it without trickle: candidates inside, lowercase fingerprint. */
const WERIFT_ANSWER = [
  "v=0",
  "o=- 1733322000000 0 IN IP4 0.0.0.0",
  "s=-",
  "t=0 0",
  "a=group:BUNDLE 0",
  "a=extmap-allow-mixed",
  "a=msid-semantic:WMS *",
  "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
  "c=IN IP4 0.0.0.0",
  "a=candidate:5b0c7f1e8d 1 udp 2130706431 192.168.1.30 50123 typ host",
  "a=end-of-candidates",
  "a=ice-ufrag:e3a1b2c4",
  "a=ice-pwd:0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c",
  "a=ice-options:trickle",
  `a=fingerprint:sha-256 ${FINGERPRINT.toLowerCase()}`,
  "a=setup:active",
  "a=mid:0",
  "a=sctp-port:5000",
  "a=max-message-size:65536",
];

const crlf = (lines: readonly string[]) => `${lines.map((l) => `${l}\r\n`).join("")}`;

/** The Chromium offer with line `index` (0-based) replaced, or removed when `line` is null. */
function offerWith(index: number, line: string | null): string {
  const lines = [...CHROMIUM_OFFER];
  if (line === null) lines.splice(index, 1);
  else lines[index] = line;
  return crlf(lines);
}

const indexOf = (prefix: string) => CHROMIUM_OFFER.findIndex((l) => l.startsWith(prefix));

const HOST = CANDIDATES[0]!;
/** The first Chromium candidate with field `index` (after "candidate:") replaced. */
function hostWith(index: number, field: string): string {
  const fields = HOST.slice("candidate:".length).split(" ");
  fields[index] = field;
  return `candidate:${fields.join(" ")}`;
}

/** The offer with one line replaced (or removed, for null) and its reason, as a table. */
function expectOffers(cases: readonly (readonly [number, string | null, string | null])[]): void {
  for (const [index, line, reason] of cases) {
    expect([line, sdpReason(offerWith(index, line))]).toEqual([line, reason]);
  }
}

describe("sdpReason", () => {
  it("accepts Chromium's offer and werift's answer, with CRLF or bare LF", () => {
    expect(sdpReason(crlf(CHROMIUM_OFFER))).toBeNull();
    expect(sdpReason(crlf(WERIFT_ANSWER))).toBeNull();
    expect(sdpReason(CHROMIUM_OFFER.map((l) => `${l}\n`).join(""))).toBeNull();
    // ICE and DTLS parameters at session level apply to the one media section.
    const sessionLevel = [...CHROMIUM_OFFER];
    const moved = sessionLevel.splice(indexOf("a=ice-ufrag"), 2);
    sessionLevel.splice(4, 0, ...moved);
    expect(sdpReason(crlf(sessionLevel))).toBeNull();
  });

  it("refuses oversized, overlong and unterminated descriptions", () => {
    expect(sdpReason("")).toBe("sdp: empty");
    const padded = offerWith(1, `o=- ${"1".repeat(SIGNAL_LIMITS.sdpBytes)} 2 IN IP4 127.0.0.1`);
    expect(sdpReason(padded)).toBe(`sdp: ${padded.length} characters, more than 6000`);
    const fits = [...CHROMIUM_OFFER];
    while (fits.length < SIGNAL_LIMITS.sdpLines) fits.push("a=x");
    expect(sdpReason(crlf(fits))).toBeNull();
    expect(sdpReason(crlf([...fits, "a=x"]))).toBe("sdp: 201 lines, more than 200");
    expect(sdpReason(crlf(CHROMIUM_OFFER).slice(0, -2))).toBe(
      "sdp: the last line does not end in CRLF",
    );
  });

  it("refuses anything but printable ASCII, so characters and UTF-8 bytes agree", () => {
    expectOffers([
      [2, "s=caf\u00e9", "sdp line 3: character U+00E9 is not printable ASCII"],
      [2, "s=a\rb", "sdp line 3: character U+000D is not printable ASCII"],
      [2, "s=\ud83d", "sdp line 3: character U+D83D is not printable ASCII"],
      [2, "s=\t-", "sdp line 3: character U+0009 is not printable ASCII"],
    ]);
  });

  it("refuses lines that are not <letter>=<value>, and a first line other than v=0", () => {
    expectOffers([
      [6, "A=x", "sdp line 7: not <letter>=<value>"],
      [6, "a:x", "sdp line 7: not <letter>=<value>"],
      [6, "", "sdp line 7: not <letter>=<value>"],
      [0, "v=1", "sdp line 1: not v=0"],
      [0, "o=- 1 2 IN IP4 127.0.0.1", "sdp line 1: not v=0"],
    ]);
  });

  it("accepts exactly one m=application data-channel section", () => {
    const m = indexOf("m=");
    const wrongForm = "sdp line 8: not m=application <port> UDP/DTLS/SCTP webrtc-datachannel";
    const dc = "UDP/DTLS/SCTP webrtc-datachannel";
    expectOffers([
      [m, "m=audio 9 UDP/TLS/RTP/SAVPF 111", "sdp: m=audio is not a data channel"],
      [m, "m=video 9 UDP/TLS/RTP/SAVPF 96", "sdp: m=video is not a data channel"],
      [m, "m=application 9 DTLS/SCTP 5000", wrongForm],
      [m, `m=application 65536 ${dc}`, wrongForm],
      [m, `m=application x ${dc}`, wrongForm],
      [m, `m=application 9 ${dc} `, wrongForm],
      [m, `m=application 0 ${dc}`, null],
      [m, null, "sdp: no m=application line"],
    ]);
    const twice = [...CHROMIUM_OFFER, CHROMIUM_OFFER[m]!, "a=mid:1"];
    expect(sdpReason(crlf(twice))).toBe(
      "sdp line 18: a second m= line (line 8 was the data channel)",
    );
    const withAudio = [...CHROMIUM_OFFER, "m=audio 9 UDP/TLS/RTP/SAVPF 111"];
    expect(sdpReason(crlf(withAudio))).toBe("sdp: m=audio is not a data channel");
  });

  it("needs valid ICE credentials", () => {
    const ufrag = indexOf("a=ice-ufrag");
    const pwd = indexOf("a=ice-pwd");
    const badUfrag = "sdp line 10: a=ice-ufrag is not 4-256 ice characters (A-Z a-z 0-9 + /)";
    expectOffers([
      [ufrag, null, "sdp: no a=ice-ufrag"],
      [pwd, null, "sdp: no a=ice-pwd"],
      [ufrag, "a=ice-ufrag:abc", badUfrag],
      [ufrag, "a=ice-ufrag:ab-d", badUfrag],
      [ufrag, "a=ice-ufrag", badUfrag],
      [ufrag, `a=ice-ufrag:${"a".repeat(257)}`, badUfrag],
      [ufrag, `a=ice-ufrag:${"a/+9".repeat(64)}`, null],
      [
        pwd,
        "a=ice-pwd:fPq3vR8kLm2Nw7YtB5cXh",
        "sdp line 11: a=ice-pwd is not 22-256 ice characters (A-Z a-z 0-9 + /)",
      ],
      [pwd, "a=ice-pwd:fPq3vR8kLm2Nw7YtB5cXh1", null],
    ]);
    const doubled = [...CHROMIUM_OFFER, "a=ice-pwd:0f9e8d7c6b5a4f3e2d1c0b9a8f"];
    expect(sdpReason(crlf(doubled))).toBe("sdp line 18: a second a=ice-pwd in the same section");
  });

  it("needs a SHA-256 fingerprint and a known setup role", () => {
    const fp = indexOf("a=fingerprint");
    const setup = indexOf("a=setup");
    const badFp = 'sdp line 13: a=fingerprint is not "sha-256" and 32 colon-separated hex pairs';
    expectOffers([
      [fp, null, "sdp: no a=fingerprint:sha-256"],
      [fp, `a=fingerprint:sha-1 ${FINGERPRINT.slice(0, 59)}`, badFp],
      [fp, `a=fingerprint:sha-256 ${FINGERPRINT.slice(3)}`, badFp],
      [fp, `a=fingerprint:sha-256 ${FINGERPRINT}:00`, badFp],
      [fp, `a=fingerprint:sha-256 ${FINGERPRINT.replace("6B", "G6")}`, badFp],
      [fp, `a=fingerprint:sha-256  ${FINGERPRINT}`, badFp],
      [setup, "a=setup:active", null],
      [setup, "a=setup:passive", null],
      [setup, null, null],
      [setup, "a=setup:holdconn", "sdp line 14: a=setup is not actpass, active or passive"],
    ]);
  });
});

/** Each candidate's reason, as a table so a failure names the input. */
function expectReasons(cases: readonly (readonly [string, string | null])[]): void {
  for (const [candidate, reason] of cases)
    expect([candidate, candidateReason(candidate)]).toEqual([candidate, reason]);
}

describe("sdpReason, what a forwarded signal needs", () => {
  it("refuses quotes and backslashes (JSON would grow the text past a notification)", () => {
    const offer = crlf(CHROMIUM_OFFER);
    expect(sdpReason(offer.replace("s=-", 's="x"'))).toBe(
      "sdp line 3: a quote or backslash is not in a session description",
    );
    expect(sdpReason(offer.replace("s=-", "s=\\x"))).toBe(
      "sdp line 3: a quote or backslash is not in a session description",
    );
  });

  it("checks candidates inside the description as trickled ones", () => {
    const lines = [...CHROMIUM_OFFER, "a=candidate:1 1 udp 2122260223 192.0.2.9 50000 typ host"];
    expect(sdpReason(crlf(lines))).toBeNull();
    lines[lines.length - 1] = "a=candidate:1 1 tcp 1518280447 192.0.2.9 9 typ host tcptype active";
    expect(sdpReason(crlf(lines))).toBe(
      `sdp line ${lines.length}: candidate: tcp candidates are not used`,
    );
  });
});

describe("candidateReason", () => {
  it("accepts Chromium's host, mDNS, srflx, IPv6 and relay candidates and werift's", () => {
    for (const candidate of CANDIDATES) expect(candidateReason(candidate)).toBeNull();
  });

  it("refuses the empty, the long, the unprintable and the unprefixed", () => {
    const long = `${HOST} x ${"y".repeat(SIGNAL_LIMITS.candidateLength)}`;
    const emptyField = "candidate: an empty field (two spaces, or a space at an end)";
    expectReasons([
      ["", "candidate: empty"],
      [long, `candidate: ${long.length} characters, more than 512`],
      [`${HOST}\n`, "candidate: character U+000A is not printable ASCII"],
      [`a=${HOST}`, 'candidate: does not start with "candidate:"'],
      [HOST.replace(" 1 ", "  1 "), emptyField],
      [`${HOST} `, emptyField],
      ["candidate:1 1 udp 1 10.0.0.1 9 typ", "candidate: 7 fields, fewer than 8"],
    ]);
  });

  it("refuses each malformed field with its own sentence", () => {
    expectReasons([
      [hostWith(0, "a".repeat(33)), "candidate: foundation is not 1-32 ice characters"],
      [hostWith(0, "ab-c"), "candidate: foundation is not 1-32 ice characters"],
      [hostWith(1, "123456"), "candidate: component-id is not 1-5 digits"],
      [hostWith(2, "tcp"), "candidate: tcp candidates are not used"],
      [hostWith(2, "TCP"), "candidate: tcp candidates are not used"],
      [hostWith(2, "sctp"), "candidate: transport 'sctp' is not udp"],
      [hostWith(3, "12345678901"), "candidate: priority is not 1-10 digits"],
      [hostWith(3, "-1"), "candidate: priority is not 1-10 digits"],
      [hostWith(5, "65536"), "candidate: port is not 0-65535"],
      [hostWith(5, "65535"), null],
      [hostWith(6, "type"), 'candidate: no "typ" after the port'],
      [hostWith(7, "local"), "candidate: type 'local' is not host, srflx, prflx or relay"],
    ]);
  });

  it("accepts IPv4, IPv6 and <uuid>.local addresses only, checked strictly", () => {
    const uuid = "3c5b9a1e-7f2d-4c8a-9e61-0b2d4f6a8c13";
    const notIp = (text: string, why: string) =>
      [hostWith(4, text), `candidate: address '${text}': not an IP address: ${why}`] as const;
    const notMdns = (text: string) =>
      [
        hostWith(4, text),
        `candidate: address '${text}': not a lowercase <uuid>.local name`,
      ] as const;
    expectReasons([
      notIp("192.168.1", "too few octets (3, want 4)"),
      notIp("192.168.01.20", "octet 3 has a leading zero"),
      notIp("fe80::1%eth0", "zone index ('%...') not allowed"),
      notIp("1:2:3:4:5:6:7:8:9", "too many groups (9, want 8)"),
      notIp("example.com", "unexpected character 'e'"),
      notMdns(`${uuid.toUpperCase()}.local`),
      notMdns("printer.local"),
      [hostWith(4, `${uuid}.local`), null],
      [hostWith(4, "::ffff:10.0.0.1"), null],
    ]);
  });

  it("checks raddr/rport and the extensions", () => {
    const base = "candidate:842163049 1 udp 1677729535 203.0.113.7 61234 typ srflx";
    const misplaced = "candidate: raddr and rport must come right after the type, once";
    const sixteen = Array.from({ length: 16 }, (_, i) => `x${i} ${i}`).join(" ");
    expectReasons([
      [
        `${base} raddr 10.0.0.256 rport 1`,
        "candidate: raddr '10.0.0.256': not an IP address: octet 4 out of range",
      ],
      [`${base} raddr 10.0.0.1 generation 0`, "candidate: raddr without rport"],
      [`${base} raddr 10.0.0.1 rport 70000`, "candidate: rport is not 0-65535"],
      [`${base} raddr`, "candidate: raddr without an address"],
      [`${base} rport 0`, misplaced],
      [`${base} generation 0 raddr 10.0.0.1`, misplaced],
      [`${base} generation 0 ufrag`, "candidate: extension 'ufrag' has no value"],
      [`${base} ${sixteen}`, null],
      [`${base} ${sixteen} y 1`, "candidate: 17 extensions, more than 16"],
      [
        `${base} ${"n".repeat(65)} 1`,
        `candidate: extension name '${"n".repeat(64)}…' is longer than 64`,
      ],
      [`${base} ${"n".repeat(64)} ${"v".repeat(64)}`, null],
      [
        `${base} ufrag ${"v".repeat(65)}`,
        "candidate: extension 'ufrag' has a value longer than 64",
      ],
    ]);
  });
});

describe("midReason", () => {
  it("accepts 1-32 of [A-Za-z0-9_-] and refuses the rest", () => {
    for (const mid of ["0", "data", "a_b-C9", "m".repeat(32)]) expect(midReason(mid)).toBeNull();
    expect(midReason("")).toBe("mid: empty");
    expect(midReason("m".repeat(33))).toBe("mid: 33 characters, more than 32");
    for (const mid of ["a b", "0.1", "\u00e9", "a\n"]) {
      expect(midReason(mid)).toBe("mid: only A-Z a-z 0-9 _ - are allowed");
    }
  });
});

/** Characters the fuzz inserts: mostly SDP/candidate syntax, some control and non-ASCII. */
const ALPHABET = [..."aAmvz09=:/+- .\r\n\t", "\u00e9", "\u2028", "\ud83d", "\u0000", "\u007f"];

/** One to three of: byte flip, deletion, insertion, and line (field) duplication, removal, swap
 * and repetition up to a bound, truncation, CRLF to LF. */
function mutate(text: string, int: (bound: number) => number, separator: string): string {
  let out = text;
  for (let round = 1 + int(3); round > 0; round--) {
    const at = int(out.length + 1);
    const char = () =>
      int(4) === 0 ? String.fromCharCode(int(0x10000)) : ALPHABET[int(ALPHABET.length)]!;
    const parts = out.split(separator);
    const pick = int(parts.length);
    const kind = int(9);
    if (kind === 0) out = out.slice(0, at) + char() + out.slice(at + 1);
    else if (kind === 1) out = out.slice(0, at) + out.slice(at + 1 + int(8));
    else if (kind === 2)
      out = out.slice(0, at) + Array.from({ length: 1 + int(4) }, char).join("") + out.slice(at);
    else if (kind === 3) out = out.slice(0, at);
    else if (kind === 4) out = out.replaceAll("\r\n", "\n");
    else {
      if (kind === 5) parts.splice(pick, 0, parts[pick]!);
      if (kind === 6) parts.splice(pick, 1);
      if (kind === 7) [parts[pick], parts[0]] = [parts[0]!, parts[pick]!];
      if (kind === 8)
        parts.splice(pick, 0, ...Array.from({ length: 1 + int(250) }, () => parts[pick]!));
      out = parts.join(separator);
    }
  }
  return out;
}

/** Independent checks of an accepted description, not sharing code with the validator. */
function checkAcceptedSdp(sdp: string): void {
  expect(sdp.length).toBeLessThanOrEqual(SIGNAL_LIMITS.sdpBytes);
  expect(new TextEncoder().encode(sdp).length).toBe(sdp.length);
  expect(/^(?:[\x20-\x7e]|\r\n|\n)*$/.test(sdp)).toBe(true);
  const lines = sdp.split(/\r?\n/);
  expect(lines.pop()).toBe("");
  expect(lines.length).toBeLessThanOrEqual(SIGNAL_LIMITS.sdpLines);
  expect(lines[0]).toBe("v=0");
  const media = lines.filter((l) => l.startsWith("m="));
  expect(media).toHaveLength(1);
  expect(media[0]).toMatch(/^m=application \d+ UDP\/DTLS\/SCTP webrtc-datachannel$/);
  expect(lines.some((l) => /^a=ice-ufrag:[A-Za-z0-9+/]{4,}$/.test(l))).toBe(true);
  expect(lines.some((l) => /^a=ice-pwd:[A-Za-z0-9+/]{22,}$/.test(l))).toBe(true);
  expect(lines.some((l) => l.startsWith("a=fingerprint:sha-256 "))).toBe(true);
}

function checkAcceptedCandidate(candidate: string): void {
  expect(candidate.length).toBeLessThanOrEqual(SIGNAL_LIMITS.candidateLength);
  expect(/^candidate:[\x21-\x7e]+(?: [\x21-\x7e]+)+$/.test(candidate)).toBe(true);
  const fields = candidate.split(" ");
  expect(fields[2]!.toLowerCase()).toBe("udp");
  expect(fields[6]).toBe("typ");
  expect(["host", "srflx", "prflx", "relay"]).toContain(fields[7]);
}

describe("signal values fuzz", () => {
  it("never throws, answers null or a sentence, and accepts only what keeps the invariants", () => {
    const int = seededInts(0x5167_4e41);
    const sdps = [crlf(CHROMIUM_OFFER), crlf(WERIFT_ANSWER)];
    let inputs = 0;
    let refused = 0;
    let acceptedSdp = 0;
    let acceptedCandidates = 0;
    for (let i = 0; i < 20_000; i++) {
      const sdp = mutate(sdps[i % sdps.length]!, int, "\n");
      const why = sdpReason(sdp);
      inputs++;
      if (why === null) {
        acceptedSdp++;
        checkAcceptedSdp(sdp);
      } else {
        refused++;
        expect(why).toMatch(/^sdp(?: line \d+)?: ./);
      }
    }
    for (let i = 0; i < 20_000; i++) {
      const candidate = mutate(CANDIDATES[i % CANDIDATES.length]!, int, " ");
      const why = candidateReason(candidate);
      inputs++;
      if (why === null) {
        acceptedCandidates++;
        checkAcceptedCandidate(candidate);
      } else {
        refused++;
        expect(why).toMatch(/^candidate: ./);
      }
      const mid = candidate.slice(10, 10 + int(40));
      const midWhy = midReason(mid);
      inputs++;
      if (midWhy === null) expect(mid).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
      else refused++;
    }
    // Both outcomes must be common, or the mutations are too weak or too strong to test much.
    expect(acceptedSdp).toBeGreaterThan(1000);
    expect(acceptedCandidates).toBeGreaterThan(1000);
    expect(refused).toBeGreaterThan(10_000);
    console.log(`signal values fuzz: ${inputs} inputs, ${refused} refused`);
  });
});
