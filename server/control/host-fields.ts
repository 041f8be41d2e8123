// What a node reports about its host (Hostinfo, at login and in `update`) as stored node fields:
// hostname, OS, SSH host keys, and the local users its SSH server can be. An absent
// sshHostKeys keeps the stored keys (a node may report them later); an absent sshUsers means
// "any local user" (a root agent sends none), so it clears a list sent before.

import type { Hostinfo } from "../../worker/control/messages.ts";
import type { NodeRecord } from "./store/types.ts";

/** The host fields of a node record. */
export type HostFields = Pick<NodeRecord, "hostname" | "os" | "sshHostKeys" | "sshUsers">;

function sameList(a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

/** The fields to store for `hostinfo` on `node`, or null when nothing differs. */
export function hostFields(node: NodeRecord, hostinfo: Hostinfo): HostFields | null {
  const fields: HostFields = {
    hostname: hostinfo.hostname,
    os: hostinfo.os,
    sshHostKeys: hostinfo.sshHostKeys ?? node.sshHostKeys,
    sshUsers: hostinfo.sshUsers ?? null,
  };
  const same =
    fields.hostname === node.hostname &&
    fields.os === node.os &&
    sameList(fields.sshHostKeys, node.sshHostKeys) &&
    sameList(fields.sshUsers, node.sshUsers);
  return same ? null : fields;
}
