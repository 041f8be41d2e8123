// Node names: a DNS label made from the hostname a node reports, made unique in the mesh
// (`web-01`, `web-01-2`, ...). `NAME` and `NAME.<mesh domain>` resolve inside every engine from
// the map, so a name must be a valid label: [a-z0-9-], at most 63 characters, no '-' at either end.

import type { StoreTx } from "./types.ts";

/** The longest DNS label. */
export const MAX_LABEL = 63;

/** What a node is called when its hostname leaves nothing usable. */
export const FALLBACK_NAME = "node";

/**
 * Longest stem kept before a "-N" suffix: 63 minus "-" and 7 digits, enough for a suffix up to
 * the number of IPv4 addresses in the mesh.
 */
const MAX_STEM = MAX_LABEL - 8;

/** True when `name` is a label this mesh accepts as a node name (also for renames). */
export function isDnsLabel(name: string): boolean {
  return name.length <= MAX_LABEL && /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/.test(name);
}

function trimHyphens(text: string): string {
  return text.replace(/^-+/, "").replace(/-+$/, "");
}

/**
 * The label for a hostname: its first dot-separated part, lowercased, every run of other
 * characters than [a-z0-9] turned into one '-', trimmed of '-' at both ends, cut to 63
 * characters; "node" when nothing is left.
 */
export function dnsLabel(hostname: string): string {
  const first = hostname.split(".", 1)[0] ?? "";
  const label = trimHyphens(
    trimHyphens(first.toLowerCase().replace(/[^a-z0-9]+/g, "-")).slice(0, MAX_LABEL),
  );
  return label === "" ? FALLBACK_NAME : label;
}

/**
 * `base` when no node has that name, else the first free `base-2`, `base-3`, ... (a base too
 * long for a suffix is cut first). Another registration may take the same name before this one
 * is written: the store's unique constraint refuses it, and allocate.ts tries again.
 */
export async function uniqueName(tx: StoreTx, base: string): Promise<string> {
  if (!isDnsLabel(base)) throw new TypeError(`name '${base.slice(0, 64)}': not a DNS label`);
  if (base.length <= MAX_STEM) return tx.nextNodeName(base);
  const free = await tx.nextNodeName(base);
  return free === base ? base : tx.nextNodeName(trimHyphens(base.slice(0, MAX_STEM)));
}
