// Checks of the WebRTC signalling values (issue 19) that travel through the control server in
// `signal` messages: a data-channel session description, a trickled ICE candidate and its mid.
// Each returns why a value is wrong, or null when it is fine. The server refuses (and counts)
// what these refuse, and clients run the same checks before sending, so a browser never learns
// of a refusal only from the server.
//
// What is accepted is what Chromium and werift produce for a data-channel-only session and
// nothing wider: the server forwards these strings to another person's browser, so anything it
// lets through is attack surface of that browser's SDP parser. Pure string work, no Node
// built-ins: worker/ code runs in browsers too.

import { describeChar, quoteInput } from "../wireguard/ip-address.ts";
/**
 * Size limits of the signalling values. An SDP must fit one PostgreSQL NOTIFY payload (under
 * 8000 bytes) with room for the JSON envelope (escaped CRLFs, ids) when a `signal` is forwarded
 * from one control server to another; a data-channel offer from Chromium is about 600 bytes
 * and 15 lines, so the limits leave room for candidates gathered into a non-trickle answer.
 */
import type { SignalFields } from "./messages.ts";
import { ipReason } from "./wire-values.ts";

export const SIGNAL_LIMITS = {
  /** Most characters (and so UTF-8 bytes: only ASCII is accepted) of a session description. */
  sdpBytes: 6000,
  /** Most lines of a session description. */
  sdpLines: 200,
  /** Most characters of one candidate, "candidate:..." as RTCIceCandidate.candidate gives it. */
  candidateLength: 512,
  /** Most characters of a media id (RTCIceCandidate.sdpMid). */
  midLength: 32,
} as const;

/** The one media section a data-channel session has (RFC 8841 section 4.1). */
const DATA_CHANNEL_MLINE = /^application ([0-9]{1,5}) UDP\/DTLS\/SCTP webrtc-datachannel$/;

/** RFC 8839 ice-char: ALPHA / DIGIT / "+" / "/", for ufrag 4-256, pwd 22-256, foundation 1-32. */
const ICE_UFRAG = /^[A-Za-z0-9+/]{4,256}$/;
const ICE_PWD = /^[A-Za-z0-9+/]{22,256}$/;
const FOUNDATION = /^[A-Za-z0-9+/]{1,32}$/;

/** A SHA-256 certificate fingerprint (RFC 8122): 32 hex pairs joined by colons. */
const FINGERPRINT = /^sha-256 [0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){31}$/;

/** How Chromium hides a host address (mDNS candidates): a random v4 UUID in lowercase. */
const MDNS_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.local$/;

const CANDIDATE_TYPES: readonly string[] = ["host", "srflx", "prflx", "relay"];
const SETUP_ROLES: readonly string[] = ["actpass", "active", "passive"];

/** Most extension pairs after a candidate's type; Chromium sends four. */
const MAX_EXTENSIONS = 16;
/** Longest extension name or value. */
const MAX_EXTENSION_CHARS = 64;
/** Longest piece of input echoed in a sentence about the SDP. */
const MAX_SHOWN = 32;

/** The first character outside 0x20-0x7e (as describeChar says it), or null when all are printable. */
function unprintable(text: string): string | null {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code > 0x7e) return describeChar(code);
  }
  return null;
}

/** `text` shortened for a sentence, so a long bad value cannot bloat a log line. */
function shown(text: string): string {
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text;
}

/** Whether `text` is a port: 1-5 digits, 0-65535. */
function isPort(text: string): boolean {
  return /^[0-9]{1,5}$/.test(text) && Number(text) <= 65535;
}

/** Attributes that may appear at most once per section (session, media) and are checked. */
const CHECKED_ATTRIBUTES: Record<string, (value: string) => string | null> = {
  "ice-ufrag": (v) => (ICE_UFRAG.test(v) ? null : "is not 4-256 ice characters (A-Z a-z 0-9 + /)"),
  "ice-pwd": (v) => (ICE_PWD.test(v) ? null : "is not 22-256 ice characters (A-Z a-z 0-9 + /)"),
  setup: (v) => (SETUP_ROLES.includes(v) ? null : "is not actpass, active or passive"),
};

/**
 * Why `sdp` is not the session description of a data-channel-only WebRTC session as Chromium
 * or werift writes it: printable ASCII lines ending in CRLF (or LF), "v=0" first, each line
 * `<a-z>=<value>`, exactly one media section "m=application <port> UDP/DTLS/SCTP
 * webrtc-datachannel", an a=ice-ufrag, a=ice-pwd and a=fingerprint:sha-256, and a=setup, if
 * present, one of actpass, active, passive. Sentences start "sdp:" or "sdp line N:".
 */
export function sdpReason(sdp: string): string | null {
  if (sdp === "") return "sdp: empty";
  // Checked before anything is split, so an oversized input costs one comparison.
  if (sdp.length > SIGNAL_LIMITS.sdpBytes) {
    return `sdp: ${sdp.length} characters, more than ${SIGNAL_LIMITS.sdpBytes}`;
  }
  const lines = sdp.split("\n");
  // The text after the last LF: empty when the last line ended properly.
  if (lines.pop() !== "") return "sdp: the last line does not end in CRLF";
  if (lines.length > SIGNAL_LIMITS.sdpLines) {
    return `sdp: ${lines.length} lines, more than ${SIGNAL_LIMITS.sdpLines}`;
  }

  let mediaLine = 0;
  let fingerprints = 0;
  const seen = new Set<string>();
  // Attributes seen in the current section; a repeat there is ambiguous (which one counts?).
  let inSection = new Set<string>();
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i]!;
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    // A CR anywhere but before the LF is caught here as U+000D.
    const bad = unprintable(line);
    if (bad !== null) return `sdp line ${n}: character ${bad} is not printable ASCII`;
    // Neither is in a WebRTC SDP; refused, JSON carries the text unescaped, so a signal that
    // passes fits a forwarding notification with its envelope (6,000 + ~300 < 7,900 bytes).
    if (line.includes('"') || line.includes("\\")) {
      return `sdp line ${n}: a quote or backslash is not in a session description`;
    }
    if (!/^[a-z]=/.test(line)) return `sdp line ${n}: not <letter>=<value>`;
    if (i === 0) {
      if (line !== "v=0") return "sdp line 1: not v=0";
      continue;
    }
    const type = line[0];
    const value = line.slice(2);
    if (type === "m") {
      const media = value.split(" ")[0]!;
      if (media !== "application") return `sdp: m=${shown(media)} is not a data channel`;
      if (mediaLine !== 0) {
        return `sdp line ${n}: a second m= line (line ${mediaLine} was the data channel)`;
      }
      const match = DATA_CHANNEL_MLINE.exec(value);
      if (match === null || Number(match[1]) > 65535) {
        return `sdp line ${n}: not m=application <port> UDP/DTLS/SCTP webrtc-datachannel`;
      }
      mediaLine = n;
      inSection = new Set();
      continue;
    }
    if (type !== "a") continue;
    const colon = value.indexOf(":");
    const name = colon < 0 ? value : value.slice(0, colon);
    const attribute = colon < 0 ? "" : value.slice(colon + 1);
    if (name === "candidate") {
      // Candidates inside the SDP (a non-trickle answer) meet the same rules as trickled ones.
      const why = candidateReason(value);
      if (why !== null) return `sdp line ${n}: ${why}`;
      continue;
    }
    if (name === "fingerprint") {
      // Several fingerprints are legal (one per hash function); all we accept are SHA-256.
      if (!FINGERPRINT.test(attribute)) {
        return `sdp line ${n}: a=fingerprint is not "sha-256" and 32 colon-separated hex pairs`;
      }
      fingerprints++;
      continue;
    }
    const check = CHECKED_ATTRIBUTES[name];
    if (check === undefined) continue;
    const why = check(attribute);
    if (why !== null) return `sdp line ${n}: a=${name} ${why}`;
    if (inSection.has(name)) return `sdp line ${n}: a second a=${name} in the same section`;
    inSection.add(name);
    seen.add(name);
  }
  if (mediaLine === 0) return "sdp: no m=application line";
  if (!seen.has("ice-ufrag")) return "sdp: no a=ice-ufrag";
  if (!seen.has("ice-pwd")) return "sdp: no a=ice-pwd";
  if (fingerprints === 0) return "sdp: no a=fingerprint:sha-256";
  return null;
}

/** Why `text` is not an IPv4 or IPv6 address or a Chromium mDNS name "<uuid>.local". */
function addressReason(text: string): string | null {
  if (text.endsWith(".local")) {
    return MDNS_NAME.test(text) ? null : "not a lowercase <uuid>.local name";
  }
  return ipReason(text) ?? null;
}

/**
 * Why `candidate` is not an RFC 8839 section 5.1 candidate-attribute as
 * RTCIceCandidate.candidate gives it (no "a=" prefix): "candidate:<foundation> <component>
 * udp <priority> <address> <port> typ <host|srflx|prflx|relay> [raddr <address> rport <port>]"
 * then at most 16 "<name> <value>" extensions. Only UDP is accepted (the data channel never
 * uses ICE-TCP); an address is IPv4, IPv6 or Chromium's "<uuid>.local". The empty string, a
 * browser's end-of-candidates marker, is refused: it carries nothing worth forwarding.
 */
export function candidateReason(candidate: string): string | null {
  if (candidate === "") return "candidate: empty";
  if (candidate.length > SIGNAL_LIMITS.candidateLength) {
    return `candidate: ${candidate.length} characters, more than ${SIGNAL_LIMITS.candidateLength}`;
  }
  const bad = unprintable(candidate);
  if (bad !== null) return `candidate: character ${bad} is not printable ASCII`;
  if (!candidate.startsWith("candidate:")) return 'candidate: does not start with "candidate:"';
  const fields = candidate.slice("candidate:".length).split(" ");
  if (fields.includes("")) return "candidate: an empty field (two spaces, or a space at an end)";
  if (fields.length < 8) return `candidate: ${fields.length} fields, fewer than 8`;
  const [foundation, component, transport, priority, address, port, typ, type] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (!FOUNDATION.test(foundation)) return "candidate: foundation is not 1-32 ice characters";
  if (!/^[0-9]{1,5}$/.test(component)) return "candidate: component-id is not 1-5 digits";
  const protocol = transport.toLowerCase();
  if (protocol === "tcp") return "candidate: tcp candidates are not used";
  if (protocol !== "udp") return `candidate: transport ${quoteInput(transport)} is not udp`;
  if (!/^[0-9]{1,10}$/.test(priority)) return "candidate: priority is not 1-10 digits";
  const addressWhy = addressReason(address);
  if (addressWhy !== null) return `candidate: address ${quoteInput(address)}: ${addressWhy}`;
  if (!isPort(port)) return "candidate: port is not 0-65535";
  if (typ !== "typ") return 'candidate: no "typ" after the port';
  if (!CANDIDATE_TYPES.includes(type)) {
    return `candidate: type ${quoteInput(type)} is not host, srflx, prflx or relay`;
  }

  let next = 8;
  if (fields[next] === "raddr") {
    const related = fields[next + 1];
    if (related === undefined) return "candidate: raddr without an address";
    const relatedWhy = addressReason(related);
    if (relatedWhy !== null) return `candidate: raddr ${quoteInput(related)}: ${relatedWhy}`;
    if (fields[next + 2] !== "rport") return "candidate: raddr without rport";
    if (!isPort(fields[next + 3] ?? "")) return "candidate: rport is not 0-65535";
    next += 4;
  }
  const extensions = fields.slice(next);
  if (extensions.length % 2 !== 0) {
    return `candidate: extension ${quoteInput(extensions[extensions.length - 1]!)} has no value`;
  }
  if (extensions.length / 2 > MAX_EXTENSIONS) {
    return `candidate: ${extensions.length / 2} extensions, more than ${MAX_EXTENSIONS}`;
  }
  for (let i = 0; i < extensions.length; i += 2) {
    const name = extensions[i]!;
    // A later raddr or rport would give a parser two related addresses to choose from.
    if (name === "raddr" || name === "rport") {
      return "candidate: raddr and rport must come right after the type, once";
    }
    if (name.length > MAX_EXTENSION_CHARS) {
      return `candidate: extension name ${quoteInput(name)} is longer than ${MAX_EXTENSION_CHARS}`;
    }
    if (extensions[i + 1]!.length > MAX_EXTENSION_CHARS) {
      return `candidate: extension ${quoteInput(name)} has a value longer than ${MAX_EXTENSION_CHARS}`;
    }
  }
  return null;
}

/**
 * Why `mid` is not a media id (RTCIceCandidate.sdpMid) of 1-32 letters, digits, '_' or '-'.
 * Chromium and werift number their sections ("0"); the alphabet leaves room for named ones.
 */
export function midReason(mid: string): string | null {
  if (mid === "") return "mid: empty";
  if (mid.length > SIGNAL_LIMITS.midLength) {
    return `mid: ${mid.length} characters, more than ${SIGNAL_LIMITS.midLength}`;
  }
  if (!/^[A-Za-z0-9_-]+$/.test(mid)) return "mid: only A-Z a-z 0-9 _ - are allowed";
  return null;
}

/**
 * Why a signal's content is refused, or null: an offer or answer carries SDP (sdpReason) and
 * no candidate, a candidate carries a candidate (candidateReason, midReason) and no SDP, a bye
 * neither. The server refuses such a signal; a client checks before it sends.
 */
export function signalContentReason(message: SignalFields): string | null {
  const { kind, sdp, candidate, mid, mline } = message;
  const hasCandidate = candidate !== undefined || mid !== undefined || mline !== undefined;
  if (kind === "offer" || kind === "answer") {
    if (sdp === undefined) return `signal: an ${kind} carries sdp`;
    if (hasCandidate) return `signal: an ${kind} carries no candidate`;
    return sdpReason(sdp);
  }
  if (kind === "candidate") {
    if (sdp !== undefined) return "signal: a candidate carries no sdp";
    if (candidate === undefined) return "signal: a candidate carries candidate";
    return candidateReason(candidate) ?? (mid === undefined ? null : midReason(mid));
  }
  if (sdp !== undefined || hasCandidate) return "signal: a bye carries neither sdp nor candidate";
  return null;
}
