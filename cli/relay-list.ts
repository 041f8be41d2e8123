// The relays a control server lists in its maps (DESIGN §3: each node picks a home relay among
// them by latency, peers send to the receiver's), from the command line: `corridor control`
// lists them all, `corridor serve` its embedded relay and then any others. Each of
// --relay-url, --relay-key, --relay-id, --relay-region and --relay-stun is given once per relay,
// in the same order.

import { hostPortReason } from "../worker/control/schema.ts";
import type { RelayInfo } from "../worker/control/types.ts";
import { keyFromBase64, keyToBase64 } from "../worker/wireguard/keys.ts";
import { UsageError } from "./args.ts";

/** A relay id (`--relay-id`, `corridor relay --relay-id`): 1-64 of A-Z a-z 0-9 _ . -. */
const RELAY_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** A region: up to 64 of A-Z a-z 0-9 _ . - (empty: none). */
const REGION = /^[A-Za-z0-9_.-]{0,64}$/;

/** The relay list's options of `corridor control`, as the argument parser takes them. */
export const RELAY_LIST_OPTIONS = [
  {
    name: "relay-url",
    value: "URL",
    multiple: true,
    description:
      "a relay nodes use (ws:// or wss://.../relay); several: each node picks its home relay by latency",
  },
  {
    name: "relay-key",
    value: "KEY",
    multiple: true,
    description: "that relay's X25519 public key (base64, as corridor relay prints it), in order",
  },
  {
    name: "relay-id",
    value: "ID",
    multiple: true,
    description: "that relay's --relay-id, in order (1-64 of A-Z a-z 0-9 _ . -, each its own)",
    default: "default, relay-2, relay-3, ...",
  },
  {
    name: "relay-region",
    value: "REGION",
    multiple: true,
    description:
      "that relay's region in the maps (eu-west, us-east, ...; up to 64 of A-Z a-z 0-9 _ . -), in order",
    default: "none",
  },
  {
    name: "relay-stun",
    value: "HOST:PORT",
    multiple: true,
    description:
      "that relay's STUN listener (corridor relay --stun PORT), in order, as nodes reach it; none: that relay has no STUN listener",
    default: "none",
  },
] as const;

/** The further relays `corridor serve` lists after its embedded one. */
export const SERVE_RELAY_LIST_OPTIONS = [
  {
    name: "relay-url",
    value: "URL",
    multiple: true,
    description:
      "another relay the maps list after this one (corridor relay --control-key with this server's token key): nodes pick their home relay by latency",
  },
  {
    name: "relay-key",
    value: "KEY",
    multiple: true,
    description: "that relay's X25519 public key (base64), one per --relay-url, in order",
  },
  {
    name: "relay-id",
    value: "ID",
    multiple: true,
    description:
      "the relays' ids in WELCOME, tokens and maps, in order: this server's relay, then one per --relay-url",
    default: "the host name, then relay-2, relay-3, ...",
  },
  {
    name: "relay-region",
    value: "REGION",
    multiple: true,
    description:
      "the relays' regions in the maps, in order: this server's relay, then one per --relay-url",
    default: "local for this server's relay, none for the others",
  },
  {
    name: "relay-stun",
    value: "HOST:PORT",
    multiple: true,
    description:
      "the STUN listener of each --relay-url, in order (none: it has none); this server's own is --stun",
    default: "none",
  },
] as const;

/** The relay list's flags as parsed: every value of each, in command-line order. */
export interface RelayListValues {
  "relay-url": string[];
  "relay-key": string[];
  "relay-id": string[];
  "relay-region": string[];
  "relay-stun": string[];
}

/** Checks a region (`flag` names it in the error); a UsageError unless 0-64 of the set. */
export function parseRegion(text: string, flag = "--relay-region"): string {
  if (!REGION.test(text)) {
    throw new UsageError(`${flag} '${text}': up to 64 of A-Z a-z 0-9 _ . - (or empty)`);
  }
  return text;
}

/** Checks a relay id; a UsageError unless 1-64 of A-Z a-z 0-9 _ . -. */
export function parseRelayId(text: string, flag = "--relay-id"): string {
  if (!RELAY_ID.test(text)) throw new UsageError(`${flag} '${text}': 1-64 of A-Z a-z 0-9 _ . -`);
  return text;
}

/** Where a list starts, and whether it may be empty. */
export interface RelayListPlace {
  /**
   * The position of the list's first relay in the map: 0 for `corridor control` (its default
   * ids are default, relay-2, ...), 1 for the relays after `corridor serve`'s own (relay-2, ...).
   */
  first: number;
  /** Whether no --relay-url at all is refused (`corridor control`: nodes need a relay). */
  required: boolean;
}

/**
 * The relays of `values`, checked: URLs ws(s)://, keys, ids, regions, STUN addresses. Throws a
 * UsageError naming the flag that is wrong or given more often than --relay-url.
 */
export function parseRelayList(
  values: RelayListValues,
  place: RelayListPlace = { first: 0, required: true },
): RelayInfo[] {
  const urls = values["relay-url"];
  const keys = values["relay-key"];
  if (urls.length === 0 && place.required) {
    throw new UsageError("nodes need a relay: give --relay-url URL --relay-key KEY");
  }
  if (keys.length !== urls.length) {
    throw new UsageError(`${urls.length} --relay-url but ${keys.length} --relay-key: one each`);
  }
  for (const name of ["relay-id", "relay-region", "relay-stun"] as const) {
    if (values[name].length > urls.length) {
      throw new UsageError(`more --${name} than --relay-url`);
    }
  }
  const relays = urls.map((url, i): RelayInfo => {
    const parsed = URL.canParse(url) ? new URL(url) : undefined;
    if (parsed === undefined || !/^wss?:$/.test(parsed.protocol)) {
      throw new UsageError(`--relay-url '${url}': expected ws(s)://HOST[:PORT]/relay`);
    }
    let key: string;
    try {
      key = keyToBase64(keyFromBase64(keys[i]!, "--relay-key"));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const at = place.first + i;
    const id = parseRelayId(values["relay-id"][i] ?? (at === 0 ? "default" : `relay-${at + 1}`));
    const region = parseRegion(values["relay-region"][i] ?? "");
    const stun = values["relay-stun"][i] ?? "none";
    if (stun === "none") return { id, region, url: parsed.href, key };
    const why = hostPortReason(stun);
    if (why !== undefined) {
      throw new UsageError(`--relay-stun '${stun}': ${why} (HOST:PORT, or none)`);
    }
    return { id, region, url: parsed.href, key, stun };
  });
  checkDistinctIds(relays);
  return relays;
}

/** A UsageError when two relays share an id: nodes name their home relay by it. */
export function checkDistinctIds(relays: readonly Pick<RelayInfo, "id">[]): void {
  const seen = new Set<string>();
  for (const { id } of relays) {
    if (seen.has(id)) {
      throw new UsageError(`two relays with the id '${id}': give each its own --relay-id`);
    }
    seen.add(id);
  }
}

/** `corridor serve`'s relays: its embedded one's id and region, and the others. */
export interface ServeRelays {
  /** The embedded relay's id: the first --relay-id, else `defaultId` (the host name). */
  id: string;
  /** The embedded relay's region: the first --relay-region, else "local". */
  region: string;
  /** The relays the maps list after the embedded one (--relay-url, in order). */
  others: RelayInfo[];
}

/**
 * `corridor serve`'s relay list: --relay-id and --relay-region name its own relay first, then
 * one per --relay-url; --relay-url, --relay-key and --relay-stun describe the others only.
 */
export function serveRelayList(values: RelayListValues, defaultId: string): ServeRelays {
  const count = values["relay-url"].length + 1;
  for (const name of ["relay-id", "relay-region"] as const) {
    if (values[name].length > count) {
      throw new UsageError(`more --${name} than relays (this server's, then one per --relay-url)`);
    }
  }
  const [firstId, ...ids] = values["relay-id"];
  const [firstRegion, ...regions] = values["relay-region"];
  const id = firstId === undefined ? defaultId : parseRelayId(firstId);
  const region = parseRegion(firstRegion ?? "local");
  const others = parseRelayList(
    { ...values, "relay-id": ids, "relay-region": regions },
    { first: 1, required: false },
  );
  checkDistinctIds([{ id }, ...others]);
  return { id, region, others };
}

/** A relay's start line: where nodes reach it, and the `corridor relay` command that runs it. */
export function relayStartLine(relay: RelayInfo, tokenKey: string): string {
  const { id, url, stun } = relay;
  const region = relay.region === "" ? "" : ` --region ${relay.region}`;
  const stunPort = stun === undefined ? "" : ` --stun ${stun.slice(stun.lastIndexOf(":") + 1)}`;
  return (
    `relay ${id} at ${url}${stun === undefined ? "" : ` (STUN ${stun})`}: ` +
    `corridor relay --control-key ${tokenKey} --relay-id ${id}${region}${stunPort}\n`
  );
}
