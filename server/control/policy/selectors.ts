// The small languages inside the policy's strings: selectors ("group:eng", "tag:db",
// "autogroup:self", "alice@example.com", "10.0.0.0/8", a hosts alias, "*"), destinations with
// ports ("tag:db:5432", "*:80,443", "web:8000-8100"), SSH users and check periods. Each parser
// returns the parsed value or a sentence saying what is wrong, which the schema reports at the
// string's JSON path.

import { type Prefix, parsePrefix } from "./address.ts";

/** A parsed selector. Which kinds a position accepts is decided by the caller. */
export type Selector =
  | { kind: "any" }
  | { kind: "user"; email: string }
  | { kind: "group"; name: string }
  | { kind: "tag"; name: string }
  | { kind: "autogroup"; name: "member" | "admin" | "self" }
  | { kind: "prefix"; prefix: Prefix; text: string }
  | { kind: "host"; name: string };

/** An inclusive port range. */
export interface Ports {
  first: number;
  last: number;
}

/** A destination with its ports ("tag:db:5432"). */
export interface Destination {
  target: Selector;
  ports: Ports[];
}

/** "group:NAME": letters, digits, "-", "_", "." after the prefix. */
export const GROUP_NAME = /^group:[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** "tag:NAME". */
export const TAG_NAME = /^tag:[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A hosts alias: starts with a letter, so it never reads as an address. */
export const HOST_NAME = /^[A-Za-z][A-Za-z0-9._-]{0,62}$/;
const EMAIL = /^[^\s@:]+@[^\s@:]+$/;
const LOCAL_USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const AUTOGROUPS = ["member", "admin", "self"] as const;

/** Emails compare without case: providers differ in how they spell them. */
export function normalizeEmail(email: string): string {
  return email.toLowerCase();
}

/** Whether `text` is an email as the policy writes users. */
export function isEmail(text: string): boolean {
  return text.length <= 254 && EMAIL.test(text);
}

/** Parses any selector (without ports); the caller restricts the kinds. */
export function parseSelector(text: string): Selector | string {
  if (text === "*") return { kind: "any" };
  if (text.startsWith("group:")) {
    return GROUP_NAME.test(text)
      ? { kind: "group", name: text }
      : `"${text}" is not a group name (group:NAME with letters, digits, "-", "_", ".")`;
  }
  if (text.startsWith("tag:")) {
    return TAG_NAME.test(text)
      ? { kind: "tag", name: text }
      : `"${text}" is not a tag name (tag:NAME with letters, digits, "-", "_", ".")`;
  }
  if (text.startsWith("autogroup:")) {
    const name = text.slice("autogroup:".length);
    for (const known of AUTOGROUPS) if (known === name) return { kind: "autogroup", name: known };
    return `unknown autogroup "${text}" (autogroup:member, autogroup:admin, autogroup:self)`;
  }
  if (text.includes("@")) {
    return isEmail(text)
      ? { kind: "user", email: normalizeEmail(text) }
      : `"${text}" is not an email address`;
  }
  if (HOST_NAME.test(text)) return { kind: "host", name: text };
  const prefix = parsePrefix(text);
  if (typeof prefix === "string") {
    return `"${text}" is not a selector: expected "*", an email, group:NAME, tag:NAME, autogroup:NAME, a hosts name or an IP/CIDR (${prefix})`;
  }
  return { kind: "prefix", prefix, text };
}

/** Parses "*", "22", "80,443", "8000-8100" (and lists of those). */
export function parsePorts(text: string): Ports[] | string {
  if (text === "*") return [{ first: 0, last: 65535 }];
  if (text === "") return `no ports given: use "*" for every port`;
  const out: Ports[] = [];
  for (const item of text.split(",")) {
    const match = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(item);
    if (match === null) return `"${item}" is not a port or a range (22, 80,443, 8000-8100, *)`;
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (first > 65535 || last > 65535) return `port ${Math.max(first, last)} is over 65535`;
    if (first > last) return `port range ${item} ends before it starts`;
    out.push({ first, last });
  }
  return out;
}

/** Parses "selector:ports"; IPv6 addresses may be bracketed ("[fd7a::1]:22"). */
export function parseDestination(text: string): Destination | string {
  let targetText: string;
  let portsText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]:");
    if (close < 0) return `"${text}" is not a destination: expected "[IPv6]:ports"`;
    targetText = text.slice(1, close);
    portsText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(":");
    portsText = colon < 0 ? "" : text.slice(colon + 1);
    if (colon < 0 || !/^[0-9*,-]+$/.test(portsText)) {
      return `"${text}" has no ports: write "${text}:22" or "${text}:*"`;
    }
    targetText = text.slice(0, colon);
  }
  const target = parseSelector(targetText);
  if (typeof target === "string") return target;
  const ports = parsePorts(portsText);
  if (typeof ports === "string") return ports;
  return { target, ports };
}

/** Parses an SSH local user: a name, "root", or "autogroup:nonroot". */
export function parseSshUser(text: string): { name: string } | string {
  if (text === "autogroup:nonroot") return { name: text };
  if (text.startsWith("autogroup:")) {
    return `unknown SSH user autogroup "${text}" (autogroup:nonroot)`;
  }
  if (LOCAL_USER.test(text)) return { name: text };
  return `"${text}" is not a local user name`;
}

/** Shortest and longest SSH check period. */
export const CHECK_PERIOD_BOUNDS = { min: 60_000, max: 7 * 24 * 3600_000 };

/** Parses "12h", "30m", "1d12h", "90s" into milliseconds within CHECK_PERIOD_BOUNDS. */
export function parseCheckPeriod(text: string): number | string {
  const match = /^(?:([0-9]{1,4})d)?(?:([0-9]{1,4})h)?(?:([0-9]{1,6})m)?(?:([0-9]{1,7})s)?$/.exec(
    text,
  );
  if (text === "" || match === null) {
    return `"${text}" is not a duration (like "12h", "30m", "1d12h")`;
  }
  const [, d, h, m, s] = match;
  const ms =
    (Number(d ?? 0) * 86400 + Number(h ?? 0) * 3600 + Number(m ?? 0) * 60 + Number(s ?? 0)) * 1000;
  if (ms < CHECK_PERIOD_BOUNDS.min || ms > CHECK_PERIOD_BOUNDS.max) {
    return `check period "${text}" must be between 1m and 7d`;
  }
  return ms;
}
