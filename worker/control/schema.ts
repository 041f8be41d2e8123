// Valibot schemas of the map's data model (types.ts), with the bounds docs/control.md lists:
// every string and array has a maximum, keys are base64 of exactly 32 bytes, addresses and
// endpoints parse, ports are 0-65535 with first <= last. codec.ts builds the messages on them.
// Objects are not strict: unknown fields are dropped, so a newer server can add optional ones.

import * as v from "valibot";
import type {
  FilterRule,
  NetworkMap,
  PeerPatch,
  PeerView,
  PortRange,
  RelayInfo,
  RelayTokenGrant,
  SourceSelector,
  SshRule,
  UserRef,
} from "./types.ts";
import {
  cidrReason,
  endpointReason,
  ipReason,
  key32Reason,
  MESH_DOMAIN_PATTERN,
  MESH_NAME_PATTERN,
  RELAY_TOKEN_PATTERN,
  TAG_PATTERN,
  urlReason,
} from "./wire-values.ts";

/** The bounds the codec enforces (docs/control.md, "Bounds"). */
export const CONTROL_LIMITS = {
  peers: 100_000,
  /** peersRemoved and patches of one delta. */
  changes: 100_000,
  addresses: 8,
  endpoints: 32,
  tags: 64,
  sshHostKeys: 16,
  sshHostKeyLength: 8192,
  filterRules: 10_000,
  portRanges: 1024,
  selectorUsers: 10_000,
  selectorTags: 1024,
  selectorCidrs: 1024,
  /** SourceSelector.shares: acceptance ids of share recipients (one rule per share). */
  selectorShares: 10_000,
  sshRules: 1024,
  sshUsers: 256,
  relays: 256,
  nameLength: 63,
  hostnameLength: 255,
  osLength: 64,
  userNameLength: 256,
  emailLength: 320,
  tagLength: 128,
  relayIdLength: 64,
  regionLength: 64,
  urlLength: 2048,
  tokenLength: 4096,
  domainLength: 253,
  localUserLength: 64,
  sessionLength: 128,
  /** Hostinfo.sshUsers: how many, and the longest name (Linux's useradd allows 32). */
  hostSshUsers: 16,
  unixUserLength: 32,
  /** RelayInfo.stun "host:port": a DNS name (253) or a bracketed IPv6, and ":65535". */
  stunLength: 260,
} as const;

type Message = (issue: v.BaseIssue<unknown>) => string;

/** "expected WHAT, got RECEIVED" for a wrong type. */
export const expected =
  (what: string): Message =>
  (issue) =>
    `expected ${what}, got ${issue.received}`;

/** For objects: a wrong type, or a required field that is missing. */
export const objectMessage: Message = (issue) =>
  issue.expected === "Object" ? `expected an object, got ${issue.received}` : "missing";

/** A string with at most `max` characters (and at least `min`). */
export function text(max: number, min = 0) {
  return v.pipe(
    v.string(expected("a string")),
    v.minLength(min, min === 1 ? "must not be empty" : `at least ${min} characters`),
    v.maxLength(max, (issue) => `at most ${max} characters, got ${issue.received}`),
  );
}

/** True when `value` has no C0 or C1 control character (display strings reach terminals). */
function isPrintable(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return false;
  }
  return true;
}

/** A printable string (no control characters) with at most `max` characters. */
export function printable(max: number, min = 0) {
  return v.pipe(text(max, min), v.check(isPrintable, "contains control characters"));
}

/** A string of at most `max` characters that must match `pattern`. */
export function matching(max: number, pattern: RegExp, what: string) {
  return v.pipe(text(max, 1), v.regex(pattern, `not ${what}`));
}

/** A string that `reason` accepts (it returns why not, or undefined). */
export function checked(max: number, reason: (value: string) => string | undefined) {
  return v.pipe(
    text(max, 1),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const why = reason(dataset.value);
      if (why !== undefined) addIssue({ message: why });
    }),
  );
}

/** An array of at most `max` items of `item`. */
export function list<T extends v.GenericSchema>(item: T, max: number) {
  return v.pipe(
    v.array(item, expected("an array")),
    v.maxLength(max, (issue) => `at most ${max} items, got ${issue.received}`),
  );
}

/** An integer in [min, max]. */
export function int(min: number, max: number) {
  return v.pipe(
    v.number(expected("a number")),
    v.integer((issue) => `expected an integer, got ${issue.received}`),
    v.minValue(min, (issue) => `must be >= ${min}, got ${issue.received}`),
    v.maxValue(max, (issue) => `must be <= ${max}, got ${issue.received}`),
  );
}

/** A non-negative safe integer: ids, sequence numbers, unix milliseconds. */
export const count = int(0, Number.MAX_SAFE_INTEGER);
/** A boolean. */
export const bool = v.boolean(expected("a boolean"));
/** Standard base64 of exactly 32 bytes: a WireGuard key, a challenge, a proof. */
export const key32 = checked(44, key32Reason);
/** A mesh name (one DNS label). */
export const meshName = matching(CONTROL_LIMITS.nameLength, MESH_NAME_PATTERN, "a mesh name");
/** A tag such as "tag:server". */
export const tag = matching(CONTROL_LIMITS.tagLength, TAG_PATTERN, 'a tag ("tag:NAME")');
/** A hostname as a node reports it. */
export const hostname = printable(CONTROL_LIMITS.hostnameLength, 1);
/** An operating system name as a node reports it. */
export const os = printable(CONTROL_LIMITS.osLength);
/** A UDP endpoint "ip:port" / "[ipv6]:port". */
export const endpoint = checked(64, endpointReason);
/**
 * A relay id ("default", "eu-1"); "" for none chosen. ASCII letters, digits, '.', '_', '-':
 * ids travel between control servers in size-bounded notifications, counted in bytes.
 */
export const relayId = v.pipe(
  text(CONTROL_LIMITS.relayIdLength),
  v.regex(/^[A-Za-z0-9._-]*$/, "not a relay id (letters, digits, '.', '_', '-')"),
);
/** SSH host keys: "ssh-ed25519 AAAA..." lines. */
export const sshHostKeys = list(
  printable(CONTROL_LIMITS.sshHostKeyLength, 1),
  CONTROL_LIMITS.sshHostKeys,
);

/**
 * A unix user name as agents report them (Hostinfo.sshUsers): the portable set of POSIX
 * (letters, digits, '.', '_', '-'), not starting with '-' or a digit (an all-digit name reads
 * as a uid), with Samba's trailing '$' allowed.
 */
export const UNIX_USER_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*\$?$/;

/** A unix user name (see UNIX_USER_PATTERN). */
export const unixUser = matching(
  CONTROL_LIMITS.unixUserLength,
  UNIX_USER_PATTERN,
  "a unix user name (letters, digits, '.', '_', '-'; not starting with '-' or a digit)",
);

/** Hostinfo.sshUsers: the local users an agent's SSH server can be, each once. */
export const hostSshUsers = v.pipe(
  list(unixUser, CONTROL_LIMITS.hostSshUsers),
  v.check((users) => new Set(users).size === users.length, "a user appears twice"),
);

/** Why `text` is not "host:port": a DNS name, IPv4 or "[IPv6]", then a port 1-65535. */
export function hostPortReason(text: string): string | undefined {
  if (text.startsWith("[")) return endpointReason(text);
  const colon = text.lastIndexOf(":");
  if (colon < 0) return 'expected "host:port"';
  const host = text.slice(0, colon);
  const port = text.slice(colon + 1);
  if (host === "") return 'expected "host:port": the host is missing';
  if (host.includes(":")) return 'an IPv6 address needs brackets: "[addr]:port"';
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    return "port must be a number 1-65535";
  }
  if (/^[0-9.]+$/.test(host)) return ipReason(host);
  if (host.length > CONTROL_LIMITS.domainLength || !MESH_DOMAIN_PATTERN.test(host)) {
    return `${JSON.stringify(host.slice(0, 64))} is not a host name or IP address`;
  }
  return undefined;
}

const userRef = v.object(
  {
    id: count,
    name: printable(CONTROL_LIMITS.userNameLength),
    email: printable(CONTROL_LIMITS.emailLength),
    // Optional on the wire so that a map from a server without it still decodes.
    signedInAt: v.optional(v.nullable(count), null),
  },
  objectMessage,
);

/** PeerView. */
export const peerView = v.object(
  {
    id: count,
    key: key32,
    name: meshName,
    addresses: v.pipe(
      list(checked(64, ipReason), CONTROL_LIMITS.addresses),
      v.minLength(1, "at least one address"),
    ),
    user: v.nullable(userRef),
    tags: list(tag, CONTROL_LIMITS.tags),
    hostname,
    os,
    ephemeral: bool,
    keyExpiry: v.nullable(count),
    sshHostKeys,
    online: bool,
    lastSeen: v.nullable(count),
    endpoints: list(endpoint, CONTROL_LIMITS.endpoints),
    homeRelay: relayId,
    // Share recipients only (issue 17); optional so that other peers' views stay as they were.
    share: v.optional(v.object({ acceptanceId: count }, objectMessage)),
  },
  objectMessage,
);

/** PeerPatch: an id and any of the volatile fields. */
export const peerPatch = v.object(
  {
    id: count,
    online: v.optional(bool),
    lastSeen: v.optional(v.nullable(count)),
    endpoints: v.optional(list(endpoint, CONTROL_LIMITS.endpoints)),
    homeRelay: v.optional(relayId),
  },
  objectMessage,
);

/** SourceSelector. */
export const sourceSelector = v.object(
  {
    any: v.optional(bool),
    users: v.optional(list(count, CONTROL_LIMITS.selectorUsers)),
    tags: v.optional(list(tag, CONTROL_LIMITS.selectorTags)),
    cidrs: v.optional(list(checked(64, cidrReason), CONTROL_LIMITS.selectorCidrs)),
    shares: v.optional(list(count, CONTROL_LIMITS.selectorShares)),
  },
  objectMessage,
);

const port = int(0, 65535);

/** PortRange, first <= last. */
export const portRange = v.pipe(
  v.object(
    {
      proto: v.picklist(["tcp", "udp", "icmp", "*"], (issue) => {
        return `expected "tcp", "udp", "icmp" or "*", got ${issue.received}`;
      }),
      first: port,
      last: port,
    },
    objectMessage,
  ),
  v.rawCheck(({ dataset, addIssue }) => {
    if (dataset.typed && dataset.value.first > dataset.value.last) {
      addIssue({
        message: `first (${dataset.value.first}) is after last (${dataset.value.last})`,
      });
    }
  }),
);

/** FilterRule. */
export const filterRule = v.object(
  { src: sourceSelector, ports: list(portRange, CONTROL_LIMITS.portRanges) },
  objectMessage,
);

/** SshRule; "check" needs checkPeriodMs. */
export const sshRule = v.pipe(
  v.object(
    {
      src: sourceSelector,
      users: list(printable(CONTROL_LIMITS.localUserLength, 1), CONTROL_LIMITS.sshUsers),
      action: v.picklist(["accept", "check"], (issue) => {
        return `expected "accept" or "check", got ${issue.received}`;
      }),
      checkPeriodMs: v.optional(int(1, Number.MAX_SAFE_INTEGER)),
    },
    objectMessage,
  ),
  v.rawCheck(({ dataset, addIssue }) => {
    if (dataset.typed && dataset.value.action === "check" && !dataset.value.checkPeriodMs) {
      addIssue({ message: 'checkPeriodMs is required with action "check"' });
    }
  }),
);

/** RelayInfo. */
export const relayInfo = v.object(
  {
    id: matching(CONTROL_LIMITS.relayIdLength, /^[A-Za-z0-9_.-]+$/, "a relay id"),
    region: printable(CONTROL_LIMITS.regionLength),
    url: checked(CONTROL_LIMITS.urlLength, (url) => urlReason(url, ["ws:", "wss:"])),
    key: key32,
    stun: v.optional(checked(CONTROL_LIMITS.stunLength, hostPortReason)),
  },
  objectMessage,
);

/** RelayTokenGrant. */
export const relayTokenGrant = v.object(
  {
    token: v.pipe(
      text(CONTROL_LIMITS.tokenLength),
      v.regex(RELAY_TOKEN_PATTERN, "not a relay token (base64url.base64url)"),
    ),
    expiresAt: count,
  },
  objectMessage,
);

/** A problem at a path below the value a check looked at. */
interface Finding {
  keys: (string | number)[];
  message: string;
}

/** Valibot path items for `keys` below `root`, so the error names the exact field. */
function pathItems(
  root: unknown,
  keys: (string | number)[],
): [v.IssuePathItem, ...v.IssuePathItem[]] {
  const items: v.IssuePathItem[] = [];
  let input = root as Record<string | number, unknown>;
  for (const key of keys) {
    const value = input[key];
    items.push(
      typeof key === "number"
        ? { type: "array", origin: "value", input: input as unknown as unknown[], key, value }
        : { type: "object", origin: "value", input, key, value },
    );
    input = value as Record<string | number, unknown>;
  }
  return items as [v.IssuePathItem, ...v.IssuePathItem[]];
}

/** Ids, keys and names (case-insensitive) each appear once among `self` and `peers`. */
function uniquePeers(all: { view: PeerView; keys: (string | number)[] }[]): Finding | undefined {
  const ids = new Set<number>();
  const keys = new Set<string>();
  const names = new Set<string>();
  for (const { view, keys: at } of all) {
    if (ids.has(view.id)) return { keys: [...at, "id"], message: `${view.id} appears twice` };
    if (keys.has(view.key)) return { keys: [...at, "key"], message: `${view.key} appears twice` };
    const name = view.name.toLowerCase();
    if (names.has(name)) {
      return { keys: [...at, "name"], message: `"${view.name}" appears twice (names ignore case)` };
    }
    ids.add(view.id);
    keys.add(view.key);
    names.add(name);
  }
  return undefined;
}

/** Upserted peers of one delta: each id, key and name once. */
export const upsertedPeers = v.pipe(
  list(peerView, CONTROL_LIMITS.peers),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const found = uniquePeers(dataset.value.map((view, i) => ({ view, keys: [i] })));
    if (found !== undefined) {
      addIssue({ message: found.message, path: pathItems(dataset.value, found.keys) });
    }
  }),
);

/** NetworkMap: self and peers have distinct ids, keys and names. */
export const networkMap = v.pipe(
  v.object(
    {
      self: peerView,
      peers: list(peerView, CONTROL_LIMITS.peers),
      filter: list(filterRule, CONTROL_LIMITS.filterRules),
      ssh: list(sshRule, CONTROL_LIMITS.sshRules),
      relays: list(relayInfo, CONTROL_LIMITS.relays),
      token: relayTokenGrant,
      domain: matching(CONTROL_LIMITS.domainLength, MESH_DOMAIN_PATTERN, "a domain name"),
    },
    objectMessage,
  ),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const map = dataset.value;
    const found = uniquePeers([
      { view: map.self, keys: ["self"] },
      ...map.peers.map((view, i) => ({ view, keys: ["peers", i] })),
    ]);
    if (found !== undefined) {
      addIssue({ message: found.message, path: pathItems(map, found.keys) });
    }
  }),
);

// The schemas' outputs are the shared types: a change to types.ts that the schemas do not
// follow fails to compile here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const conforms: [
  Same<v.InferOutput<typeof userRef>, UserRef>,
  Same<v.InferOutput<typeof peerView>, PeerView>,
  Same<v.InferOutput<typeof peerPatch>, PeerPatch>,
  Same<v.InferOutput<typeof sourceSelector>, SourceSelector>,
  Same<v.InferOutput<typeof portRange>, PortRange>,
  Same<v.InferOutput<typeof filterRule>, FilterRule>,
  Same<v.InferOutput<typeof sshRule>, SshRule>,
  Same<v.InferOutput<typeof relayInfo>, RelayInfo>,
  Same<v.InferOutput<typeof relayTokenGrant>, RelayTokenGrant>,
  Same<v.InferOutput<typeof networkMap>, NetworkMap>,
] = [true, true, true, true, true, true, true, true, true, true];
void conforms;
