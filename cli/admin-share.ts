// `corridor admin share`: share links (docs/control.md, issue 17) over the control server's API:
// `share create NODE` prints the link alone on stdout (LINK=$(corridor admin share create ...)),
// `share list` shows each share and its acceptances (who, when, from which browser, whether the
// recipient's node is online now), `share revoke ID [--acceptance AID]` ends a whole share or
// one recipient's access. The command line is checked here before any call (exit 2); what
// depends on the node (its SSH server, its users) and the ranges the server owns (expiry, note)
// are the server's to refuse (exit 1, its sentence).

import type {
  ShareAudience,
  ShareCreatedBody,
  ShareListBody,
} from "../worker/control/api-views.ts";
import { type AdminClient, AdminError } from "./admin-client.ts";
import { type NodeRow, type ShareRow, sharesTable } from "./admin-format.ts";
import { UsageError } from "./args.ts";

/** The options of `corridor admin` that `share` reads. */
export interface ShareValues {
  json?: boolean;
  "ssh-user"?: string[];
  port?: string[];
  anyone?: boolean;
  "signed-in"?: boolean;
  email?: string[];
  expires?: string;
  uses?: string;
  note?: string;
  acceptance?: string;
}

/** What POST /api/v1/shares is sent (the node's id is added once NODE is resolved). */
export interface ShareCreateFields {
  sshUsers: string[];
  ports: number[];
  audience: ShareAudience;
  emails?: string[];
  expiry?: string;
  maxUses?: number | null;
  note?: string;
}

/** The usage of each share command, for its errors. */
export const SHARE_USAGE = {
  create:
    "share create NODE [--ssh-user U]... [--port P]... [--anyone | --signed-in | --email E...] " +
    "[--expires DUR] [--uses N|unlimited] [--note TEXT]",
  list: "share list [--json]",
  revoke: "share revoke ID [--acceptance AID]",
} as const;

/** A share's public id: 22 characters of base64url (the path of its link, /s/<id>). */
const SHARE_ID = /^[A-Za-z0-9_-]{22}$/;

function shareId(text: string): string {
  if (!SHARE_ID.test(text)) {
    throw new UsageError(
      `'${text.slice(0, 40)}' is not a share id (22 letters, digits, - and _; corridor admin share list shows them)`,
    );
  }
  return text;
}

function port(text: string): number {
  const n = /^[0-9]{1,5}$/.test(text) ? Number(text) : 0;
  if (n < 1 || n > 65535) {
    throw new UsageError(`--port '${text.slice(0, 40)}': expected a TCP port from 1 to 65535`);
  }
  return n;
}

/**
 * The body of `share create` from its options: throws UsageError for a bad or contradictory
 * command line (nothing offered, two audiences, a port that is no port, ...).
 */
export function shareCreateFields(values: ShareValues): ShareCreateFields {
  const sshUsers = [...new Set(values["ssh-user"] ?? [])];
  for (const user of sshUsers) {
    if (user === "" || user.length > 64 || /[\s:@/]/.test(user)) {
      throw new UsageError(`--ssh-user '${user.slice(0, 40)}': expected a local user name`);
    }
  }
  const ports = [...new Set((values.port ?? []).map(port))].sort((a, b) => a - b);
  if (sshUsers.length === 0 && ports.length === 0) {
    throw new UsageError(
      "share create: offer SSH (--ssh-user USER) or a TCP port (--port P), or both",
    );
  }
  const emails = values.email ?? [];
  const audiences = [values.anyone === true, values["signed-in"] === true, emails.length > 0];
  if (audiences.filter(Boolean).length > 1) {
    throw new UsageError("share create: choose one of --anyone, --signed-in or --email");
  }
  for (const email of emails) {
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) {
      throw new UsageError(`--email '${email.slice(0, 60)}': expected an email address`);
    }
  }
  const audience: ShareAudience =
    emails.length > 0 ? "emails" : values["signed-in"] === true ? "signed-in" : "anyone";
  const fields: ShareCreateFields = { sshUsers, ports, audience };
  if (emails.length > 0) fields.emails = [...new Set(emails.map((e) => e.toLowerCase()))];
  if (values.expires !== undefined) {
    if (!/^[1-9][0-9]{0,5}[smhd]$/.test(values.expires)) {
      throw new UsageError(
        `--expires '${values.expires.slice(0, 40)}': expected a duration such as 30m, 12h or 7d`,
      );
    }
    fields.expiry = values.expires;
  }
  if (values.uses !== undefined) {
    if (values.uses === "unlimited") fields.maxUses = null;
    else if (/^[1-9][0-9]{0,8}$/.test(values.uses)) fields.maxUses = Number(values.uses);
    else {
      throw new UsageError(
        `--uses '${values.uses.slice(0, 40)}': expected how many people may accept (1 or more) or 'unlimited'`,
      );
    }
  }
  if (values.note !== undefined) fields.note = values.note;
  return fields;
}

/** The node called `text` (its id, or its mesh name), from the API's node list. */
async function nodeId(api: Pick<AdminClient, "call">, text: string): Promise<number> {
  const { nodes } = await api.call<{ nodes: NodeRow[] }>("GET", "/api/v1/nodes");
  if (/^[1-9][0-9]{0,15}$/.test(text)) {
    const byId = nodes.find((n) => n.id === Number(text));
    if (byId !== undefined) return byId.id;
  }
  const byName = nodes.find((n) => n.name.toLowerCase() === text.toLowerCase());
  if (byName === undefined) {
    throw new AdminError(
      `no node called '${text.slice(0, 64)}' that this API key may manage (corridor admin nodes lists them)`,
    );
  }
  return byName.id;
}

/** A share list with each acceptance's `online` (its node's map stream is up now). */
export interface ShareListOutput {
  shares: ShareRow[];
}

/** Runs `corridor admin share VERB ...`; `out` prints the JSON or the text (exit 0). */
export async function shareCommand(
  api: Pick<AdminClient, "call">,
  values: ShareValues,
  positionals: readonly string[],
  out: (json: unknown, human: string) => number,
): Promise<number> {
  const [, verb, operand, ...extra] = positionals;
  if (verb === "create") {
    if (operand === undefined || extra.length > 0) {
      throw new UsageError(`usage: corridor admin ${SHARE_USAGE.create}`);
    }
    const fields = shareCreateFields(values);
    const body = { nodeId: await nodeId(api, operand), ...fields };
    const made = await api.call<ShareCreatedBody>("POST", "/api/v1/shares", body);
    return out(made, `${made.url}\n`);
  }
  if (verb === "list") {
    if (operand !== undefined) throw new UsageError(`usage: corridor admin ${SHARE_USAGE.list}`);
    const listed: ShareListOutput = await api.call<ShareListBody>("GET", "/api/v1/shares");
    return out(listed, sharesTable(listed.shares));
  }
  if (verb === "revoke") {
    if (operand === undefined || extra.length > 0) {
      throw new UsageError(`usage: corridor admin ${SHARE_USAGE.revoke}`);
    }
    const id = shareId(operand);
    const acceptance = values.acceptance;
    if (acceptance === undefined) {
      await api.call("DELETE", `/api/v1/shares/${id}`);
      return out({ revoked: id }, `share ${id} revoked: its recipients' access ended\n`);
    }
    if (!/^[1-9][0-9]{0,15}$/.test(acceptance)) {
      throw new UsageError(
        `--acceptance '${acceptance.slice(0, 40)}' is not an id (a positive whole number)`,
      );
    }
    await api.call("DELETE", `/api/v1/shares/${id}/acceptances/${acceptance}`);
    return out(
      { revoked: id, acceptance: Number(acceptance) },
      `acceptance ${acceptance} of share ${id} revoked: that recipient's access ended\n`,
    );
  }
  throw new UsageError(
    verb === undefined
      ? "which share command? create, list or revoke"
      : `unknown share command ${verb.slice(0, 40)}`,
  );
}
