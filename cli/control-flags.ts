// The control server's command-line flags, shared by `corridor serve` (control embedded beside
// the page and the relay) and `corridor control` (the control server alone): the database, the
// public URL, OIDC sign-in; and the start line that hands the owner their sign-in link.

import { ed25519 } from "@noble/curves/ed25519.js";
import { createOwnerLink } from "../server/control/auth/links.ts";
import type { OidcFlags } from "../server/control/auth/oidc.ts";
import { openStore } from "../server/control/store/open.ts";
import { loadOrInitSettings } from "../server/control/store/settings.ts";
import type { Store } from "../server/control/store/types.ts";
import { UsageError } from "./args.ts";

/** The control database's file name inside the data folder (`corridor serve --data DIR`). */
export const CONTROL_DB_FILE = "control.db";

/** Options of the control server that `corridor serve` and `corridor control` share. */
export const CONTROL_OPTIONS = [
  {
    name: "public-url",
    value: "URL",
    description:
      "the URL people and nodes reach this server at (https://corridor.example.com/) when it is not the listen address: sign-in links, the API's Origin, the relay URL in maps",
  },
  {
    name: "oidc-issuer",
    value: "URL",
    description: "sign in through this OpenID Provider (discovery at URL/.well-known/...)",
  },
  { name: "oidc-client-id", value: "ID", description: "the client id registered there" },
  {
    name: "oidc-client-secret-file",
    value: "FILE",
    description: "a file holding the client secret (kept out of the command line)",
  },
  {
    name: "oidc-allowed-domains",
    value: "D,...",
    description: "only people whose verified email is at one of these domains",
  },
  {
    name: "oidc-allowed-emails",
    value: "E,...",
    description: "only these verified emails (besides the allowed domains)",
  },
] as const;

/** The values of CONTROL_OPTIONS as the parser gives them. */
export interface ControlOptionValues {
  "public-url": string | undefined;
  "oidc-issuer": string | undefined;
  "oidc-client-id": string | undefined;
  "oidc-client-secret-file": string | undefined;
  "oidc-allowed-domains": string | undefined;
  "oidc-allowed-emails": string | undefined;
}

function list(text: string | undefined): string[] {
  return (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** The OIDC flags, all three or none; a UsageError naming what is missing or malformed. */
export function oidcFlags(values: ControlOptionValues): OidcFlags | undefined {
  const issuer = values["oidc-issuer"];
  const clientId = values["oidc-client-id"];
  const clientSecretFile = values["oidc-client-secret-file"];
  const any =
    issuer ??
    clientId ??
    clientSecretFile ??
    values["oidc-allowed-domains"] ??
    values["oidc-allowed-emails"];
  if (any === undefined) return undefined;
  if (issuer === undefined || clientId === undefined || clientSecretFile === undefined) {
    throw new UsageError(
      "OIDC sign-in needs --oidc-issuer URL, --oidc-client-id ID and --oidc-client-secret-file FILE together",
    );
  }
  if (!URL.canParse(issuer) || !/^https?:$/.test(new URL(issuer).protocol)) {
    throw new UsageError(
      `--oidc-issuer '${issuer}': expected an https:// URL (http:// on loopback only)`,
    );
  }
  return {
    issuer,
    clientId,
    clientSecretFile,
    allowedDomains: list(values["oidc-allowed-domains"]),
    allowedEmails: list(values["oidc-allowed-emails"]),
  };
}

/** The --public-url as a base URL (ending in "/"); a UsageError unless an http(s) origin. */
export function parsePublicUrl(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (
    url === undefined ||
    !/^https?:$/.test(url.protocol) ||
    url.username !== "" ||
    url.password !== "" ||
    url.search !== "" ||
    url.hash !== "" ||
    url.pathname !== "/"
  ) {
    throw new UsageError(
      `--public-url '${text}': expected http(s)://HOST[:PORT]/ (no path, query or fragment)`,
    );
  }
  return url.href;
}

/** The relay's WebSocket URL under a base URL: ws(s)://HOST[:PORT]/relay. */
export function relayUrlOf(baseUrl: string): string {
  const url = new URL("/relay", baseUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/**
 * Opens the control store at `url` (a file path, sqlite:PATH or postgres://...) and returns it
 * with the Ed25519 public key its relay tokens verify with (the settings are made at first
 * start). Throws an Error naming the database when it cannot be opened.
 */
export async function openControlStore(
  url: string,
): Promise<{ store: Store; tokenPublicKey: Uint8Array }> {
  let store: Store;
  try {
    store = await openStore(url);
  } catch (error) {
    throw new Error(`database ${redact(url)}: ${(error as Error).message}`);
  }
  try {
    const settings = await store.transaction((tx) => loadOrInitSettings(tx));
    const secret = new Uint8Array(Buffer.from(settings.tokenSigningKey, "base64"));
    const tokenPublicKey = ed25519.getPublicKey(secret);
    secret.fill(0);
    return { store, tokenPublicKey };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** A database URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@]*@/i, "$1***@");
}

/** The owner's sign-in line: a new single-use link, valid 15 minutes. */
export async function ownerLinkLines(
  store: Store,
  baseUrl: string,
  dataHint: string,
): Promise<string> {
  const link = await createOwnerLink(store, baseUrl);
  return (
    `Sign in as owner: ${link}\n` +
    `  (valid 15 minutes, once; \`corridor admin owner-link ${dataHint}\` prints a new one)\n`
  );
}
