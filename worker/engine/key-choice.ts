// Which SSH keys a session may offer. An SSH server learns every public key a client offers,
// so offering all of them would let hosts that share logs link the same browser across
// unrelated hosts and accounts (docs/security.md). The engine offers only the keys the user
// chose for a host and user name on a network; the choice is remembered in the network's
// record once a login with it succeeds. With nothing chosen, no key is offered.

import { formatIp, parseIp } from "../wireguard/ip-address.ts";

/** The part of a network record that holds the choices. */
export interface KeyChoices {
  /** Key ids by "user@host" (host canonical); [] means "no key: password or prompts only". */
  keyChoices?: Record<string, string[]>;
}

/** Remembered choices per network: enough for every host a person uses, bounded all the same. */
export const MAX_KEY_CHOICES = 1000;
/** Keys offered to one host at most (servers allow about six attempts anyway). */
export const MAX_KEYS_PER_CHOICE = 16;

function choiceName(host: string, username: string): string {
  let canonical = host.trim().toLowerCase();
  try {
    canonical = formatIp(parseIp(host.trim(), "host"));
  } catch {
    // a host name (resolved inside the engine): compared as written, case-insensitively
  }
  return `${username}@${canonical}`;
}

/** The key ids chosen for `username` at `host`, or null when the user never chose. */
export function chosenKeys(record: KeyChoices, host: string, username: string): string[] | null {
  const found = record.keyChoices?.[choiceName(host, username)];
  return Array.isArray(found) ? found.filter((id) => typeof id === "string") : null;
}

/** Records the user's choice (the most recent first when the table is full). */
export function rememberKeys(
  record: KeyChoices,
  host: string,
  username: string,
  keyIds: readonly string[],
): void {
  if (keyIds.length > MAX_KEYS_PER_CHOICE) {
    throw new Error(`choose at most ${MAX_KEYS_PER_CHOICE} keys for one host`);
  }
  const name = choiceName(host, username);
  const rest = Object.entries(record.keyChoices ?? {}).filter(([n]) => n !== name);
  record.keyChoices = Object.fromEntries([[name, [...keyIds]], ...rest].slice(0, MAX_KEY_CHOICES));
}
