// `corridor serve`'s command line: its options, help and summary (SERVE_COMMAND), and their
// checks (serveArgs); the start itself is serve.ts.

import { isLoopbackHost } from "../server/relay/index.ts";
import { checkAppsDomain, LOOPBACK_APPS_DOMAIN } from "../server/web/app-origin.ts";
import type { RelayInfo } from "../worker/control/types.ts";
import { defineCommand, type ParsedArgs, UsageError } from "./args.ts";
import {
  CONTROL_OPTIONS,
  type ControlOptionValues,
  oidcFlags,
  parsePublicUrl,
} from "./control-flags.ts";
import { DRAIN_OPTION, parseDrain } from "./drain.ts";
import {
  applyRelayOptions,
  defaultRelayFlags,
  parsePort,
  parseStunPort,
  RELAY_ACCESS_OPTIONS,
  type RelayFlags,
} from "./relay-flags.ts";
import { SERVE_RELAY_LIST_OPTIONS, serveRelayList } from "./relay-list.ts";

/** `corridor serve`: its options, help and summary. */
export const SERVE_COMMAND = defineCommand({
  name: "serve",
  summary: "the page, the relay and the control server on one port (what `npm start` runs)",
  synopsis: [
    "[--listen HOST:PORT] [--host ADDR] [--port N] [--web DIR] [--data DIR]",
    "[--database URL] [--public-url URL] [--oidc-issuer URL --oidc-client-id ID",
    "--oidc-client-secret-file FILE [--oidc-allowed-domains D,...] [--oidc-allowed-emails E,...]]",
    "[--open | --allow-keys FILE | --control-key PUB]",
    "[--allow-udp CIDR[:PORTS]]... [--origin ORIGIN]... [--allow-host NAME]...",
    "[--relay-id ID] [--relay-region REGION] [--stun PORT] [--apps-domain NAME]",
    "[--relay-url URL --relay-key KEY [--relay-id ID] [--relay-region REGION] [--relay-stun HOST:PORT]]...",
  ],
  options: [
    {
      name: "listen",
      value: "HOST:PORT",
      description: "where to listen: the page on /, the relay on /relay",
      default: "127.0.0.1:8080",
    },
    { name: "host", value: "ADDR", description: "the listen address alone" },
    { name: "port", value: "N", description: "the listen port alone (0 picks a free one)" },
    {
      name: "web",
      value: "DIR",
      description: "the built page to serve",
      default: "dist/ of this package, built if missing",
    },
    {
      name: "data",
      value: "DIR",
      description:
        "where the server keeps its state, made 0700: the relay's key in DIR/relay.key (made 0600), the same at every start so clients can pin it (#key=), and the control server's SQLite database DIR/control.db (0600)",
      default: "$XDG_STATE_HOME/corridor or ~/.local/state/corridor",
    },
    {
      name: "database",
      value: "URL",
      description:
        "the control server's database instead of DIR/control.db: postgres://... or a file",
    },
    ...CONTROL_OPTIONS,
    {
      name: "open",
      description:
        "anyone who proves a key may use the relay (the default on a loopback address only); the control server's tokens are always accepted",
    },
    ...RELAY_ACCESS_OPTIONS,
    ...SERVE_RELAY_LIST_OPTIONS,
    {
      name: "origin",
      value: "ORIGIN",
      multiple: true,
      description:
        "also let web pages of this origin use the relay; by default only the page served here may (http://HOST:PORT, and on loopback localhost, corridor.localhost, 127.0.0.1 and [::1] at PORT)",
    },
    {
      name: "stun",
      value: "PORT",
      description:
        "the relay's STUN listener (RFC 5389 Binding) on this UDP port of the listen address, where agents learn the address their UDP is seen from; the maps name it (HOST of the public URL, this port); 0: off",
      default: "the listen port's number, on UDP",
    },
    {
      name: "apps-domain",
      value: "NAME",
      description:
        "private URLs at https://<host>--<port>.NAME/ (e.g. apps.example.com beside a page at example.com): needs wildcard DNS *.NAME to this server and a wildcard TLS certificate for *.NAME; NAME must be under the page's registrable site (the public URL's), or the browser partitions the bridge iframe's storage. *.corridor.localhost always works on this machine",
    },
    DRAIN_OPTION,
  ],
  notes:
    "On loopback the relay is open by default; on any other address choose who may use it.\n" +
    "The relay always accepts the tokens of the control server it runs beside. Without OIDC,\n" +
    "the start lines hold a single-use owner sign-in link (15 minutes).\n" +
    "SIGTERM and SIGINT: /readyz answers 503 for --drain SECONDS, then the map streams close\n" +
    "(1012) and relay clients are told to come back before the server closes.",
});

/** `corridor serve`'s checked options. */
export type ServeArgs = RelayFlags & {
  web: string | undefined;
  data: string | undefined;
  database: string | undefined;
  publicUrl: string | undefined;
  oidc: ReturnType<typeof oidcFlags>;
  /** --stun: a port, 0 for off, undefined for the default (the HTTP port's number). */
  stun: number | undefined;
  /** --apps-domain, checked against the page's host. */
  appsDomain: string | undefined;
  drainMs: number;
  /** This relay's region in the maps; the relays they list after it (relay-list.ts). */
  region: string;
  otherRelays: RelayInfo[];
};

/** Whether `host` names this machine's loopback only (a default-open relay is safe there). */
export function isLoopback(host: string): boolean {
  return isLoopbackHost(host);
}

/** The checked command line of `corridor serve`; throws UsageError naming what is wrong. */
export function serveArgs({
  values,
  given,
  positionals,
}: ParsedArgs<typeof SERVE_COMMAND.options>): ServeArgs {
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const out: ServeArgs = {
    ...defaultRelayFlags(),
    web: undefined,
    data: undefined,
    database: values.database,
    publicUrl: parsePublicUrl(values["public-url"]),
    oidc: oidcFlags(values as ControlOptionValues),
    stun: values.stun === undefined ? undefined : parseStunPort(values.stun),
    appsDomain: undefined,
    drainMs: parseDrain(values.drain),
    region: "",
    otherRelays: [],
  };
  // In command-line order: a later --listen, --host or --port wins over an earlier one.
  for (const { name, value = "" } of applyRelayOptions(out, given)) {
    if (name === "host") out.host = value.replace(/^\[(.*)\]$/, "$1");
    else if (name === "port") {
      const port = parsePort(value, "--port");
      if (typeof port === "string") throw new UsageError(port);
      out.port = port;
    } else if (name === "web") out.web = value;
    else if (name === "data") out.data = value;
  }
  // --relay-id: this relay's, then one per --relay-url (applyRelayOptions kept the last).
  const relays = serveRelayList(values, defaultRelayFlags().relayId);
  [out.relayId, out.region, out.otherRelays] = [relays.id, relays.region, relays.others];
  if (values["apps-domain"] !== undefined) {
    try {
      out.appsDomain = checkAppsDomain(values["apps-domain"], pageHostOf(out));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  if (out.auth === undefined && !isLoopback(out.host)) {
    throw new UsageError(
      `listening on ${out.host} (not a loopback address) needs a choice of who may use the ` +
        "relay: --allow-keys FILE, --control-key PUB, or --open if anyone may",
    );
  }
  return out;
}

/**
 * The host the page is served at, for the apps domain's same-site check: the public URL's, else
 * corridor.localhost on loopback (where the page lives for private URLs), else the listen host.
 */
function pageHostOf(args: Pick<ServeArgs, "publicUrl" | "host">): string {
  if (args.publicUrl !== undefined) return new URL(args.publicUrl).hostname;
  if (isLoopback(args.host)) return LOOPBACK_APPS_DOMAIN;
  return args.host === "0.0.0.0" ? "127.0.0.1" : args.host === "::" ? "::1" : args.host;
}
