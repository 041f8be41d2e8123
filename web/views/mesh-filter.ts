// Search and filters of the mesh hosts list: a pure function, so it is tested in Node.

import type { MeshHost } from "../../worker/api.ts";

export interface MeshFilter {
  /** Words matched (each, case-insensitively) against name, host name, addresses, tags, owner. */
  query: string;
  onlineOnly: boolean;
  /** Only hosts with this tag ("" for any). */
  tag: string;
}

/** Longest search text looked at (a paste of a whole page must not stall the list). */
const MAX_QUERY_CHARS = 200;

function haystack(host: MeshHost): string {
  return [
    host.name,
    host.hostname,
    host.os,
    ...host.addresses,
    ...host.tags,
    host.owner?.name ?? "",
    host.owner?.email ?? "",
  ]
    .join("\n")
    .toLowerCase();
}

/** The hosts `filter` lets through: online first, then by name. */
export function filterHosts(hosts: readonly MeshHost[], filter: MeshFilter): MeshHost[] {
  const words = filter.query.slice(0, MAX_QUERY_CHARS).toLowerCase().split(/\s+/).filter(Boolean);
  return hosts
    .filter((host) => {
      if (filter.onlineOnly && !host.online) return false;
      if (filter.tag !== "" && !host.tags.includes(filter.tag)) return false;
      if (words.length === 0) return true;
      const text = haystack(host);
      return words.every((word) => text.includes(word));
    })
    .sort((a, b) => Number(b.online) - Number(a.online) || a.name.localeCompare(b.name));
}

/** Every tag of `hosts`, sorted, each once. */
export function allTags(hosts: readonly MeshHost[]): string[] {
  return [...new Set(hosts.flatMap((h) => h.tags))].sort();
}

/** "direct (WebRTC) · 1 ms", "relay · 40 ms", "no traffic yet". */
export function pathText(host: MeshHost): string {
  if (host.path === "none") return "no traffic yet";
  // A page's only direct path is a WebRTC data channel (docs/paths.md).
  const path = host.path === "direct" ? "direct (WebRTC)" : host.path;
  return host.rttMs === null ? path : `${path} · ${Math.round(host.rttMs)} ms`;
}
