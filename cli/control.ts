// `corridor control`: the control server alone (API and sign-in pages, the /control map stream,
// /healthz, /readyz and /metrics), for deployments that run it apart from their relays. It
// prints the Ed25519 public key of its relay tokens: relays started with `corridor relay
// --control-key PUB --relay-id ID` accept the nodes it registers. SIGTERM and SIGINT drain
// (drain.ts: /readyz 503, new streams refused, --drain SECONDS), close the map streams (1012:
// nodes come back and resume), write the checkpoint, then close the server and the database.

import { startControlServer } from "../server/control/http.ts";
import { createLogger, MetricsRegistry } from "../server/relay/index.ts";
import type { RelayInfo } from "../worker/control/types.ts";
import { defineCommand, type ParsedArgs, runCommand, UsageError } from "./args.ts";
import {
  CONTROL_OPTIONS,
  type ControlOptionValues,
  oidcFlags,
  openControlStore,
  ownerLinkLines,
  parsePublicUrl,
  redact,
} from "./control-flags.ts";
import { DRAIN_OPTION, drain, parseDrain, stopSignals } from "./drain.ts";
import { parsePort } from "./relay-flags.ts";
import { parseRelayList, RELAY_LIST_OPTIONS, relayStartLine } from "./relay-list.ts";

/** `corridor control`: its options, help and summary. */
export const CONTROL_COMMAND = defineCommand({
  name: "control",
  summary: "the control server alone (sign-in, API, map stream), apart from the relays",
  synopsis: [
    "--database URL [--listen HOST:PORT] [--public-url URL]",
    "--relay-url URL --relay-key KEY [--relay-id ID] [--relay-region REGION] [--relay-stun HOST:PORT]",
    "[--relay-url URL --relay-key KEY ...]",
    "[--oidc-issuer URL --oidc-client-id ID --oidc-client-secret-file FILE ...]",
  ],
  options: [
    {
      name: "database",
      value: "URL",
      description: "postgres://USER@HOST/DB, or a SQLite file (sqlite:PATH or a path)",
    },
    {
      name: "listen",
      value: "HOST:PORT",
      description: "where to listen: the API on /api/v1/, the map stream on /control",
      default: "127.0.0.1:8080",
    },
    ...CONTROL_OPTIONS,
    ...RELAY_LIST_OPTIONS,
    {
      name: "allow-host",
      value: "NAME",
      multiple: true,
      description:
        "a host name /healthz, /readyz and /metrics answer to besides IP literals and localhost",
    },
    DRAIN_OPTION,
  ],
  notes:
    "Start every relay with the same printed token key: corridor relay --control-key PUB\n" +
    "--relay-id ID [--region REGION]. Several relays: tokens are good on each of them.\n" +
    "SIGTERM and SIGINT: /readyz answers 503 for --drain SECONDS, then the map streams close\n" +
    "(nodes reconnect and resume) and the database.",
});

interface ControlArgs {
  database: string;
  host: string;
  port: number;
  publicUrl: string | undefined;
  relays: RelayInfo[];
  oidc: ReturnType<typeof oidcFlags>;
  allowedHosts: string[];
  drainMs: number;
}

/** The checked command line of `corridor control`; throws UsageError naming what is wrong. */
export function controlArgs({
  values,
  positionals,
}: ParsedArgs<typeof CONTROL_COMMAND.options>): ControlArgs {
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  if (values.database === undefined) {
    throw new UsageError("--database URL is required (postgres://... or a SQLite file)");
  }
  const listen = values.listen ?? "127.0.0.1:8080";
  const colon = listen.lastIndexOf(":");
  const port = parsePort(listen.slice(colon + 1), "--listen");
  if (colon < 1 || typeof port === "string") {
    throw new UsageError(`--listen '${listen}': expected HOST:PORT with a port from 0 to 65535`);
  }
  return {
    database: values.database,
    host: listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1"),
    port,
    publicUrl: parsePublicUrl(values["public-url"]),
    relays: parseRelayList(values),
    oidc: oidcFlags(values as ControlOptionValues),
    allowedHosts: values["allow-host"],
    drainMs: parseDrain(values.drain),
  };
}

/** Runs `corridor control` until SIGTERM/SIGINT; returns the exit status. */
export function controlCommand(argv: string[]): Promise<number> {
  return runCommand(CONTROL_COMMAND, argv, (args) => runControl(controlArgs(args)));
}

async function runControl(parsed: ControlArgs): Promise<number> {
  let opened: Awaited<ReturnType<typeof openControlStore>>;
  try {
    opened = await openControlStore(parsed.database);
  } catch (error) {
    process.stderr.write(`corridor control: ${(error as Error).message}\n`);
    return 1;
  }
  const { store } = opened;
  const log = createLogger();
  let server: Awaited<ReturnType<typeof startControlServer>>;
  let ownerLine = "";
  try {
    server = await startControlServer({
      host: parsed.host,
      port: parsed.port,
      publicUrl: parsed.publicUrl,
      store,
      relays: parsed.relays,
      oidc: parsed.oidc,
      metrics: new MetricsRegistry(),
      log,
      allowedHosts: parsed.allowedHosts,
    });
    if (server.oidc === null) {
      ownerLine = await ownerLinkLines(
        store,
        server.baseUrl,
        `--database ${redact(parsed.database)}`,
      );
    }
  } catch (error) {
    await store.close();
    process.stderr.write(`corridor control: ${(error as Error).message}\n`);
    return 1;
  }
  // Listen before announcing the start: whoever reads the lines may signal at once.
  const signals = stopSignals();
  const tokenKey = Buffer.from(server.control.tokenPublicKey).toString("base64");
  const controlUrl = new URL("/control", server.baseUrl);
  controlUrl.protocol = controlUrl.protocol === "https:" ? "wss:" : "ws:";
  process.stdout.write(
    `corridor control at ${server.baseUrl} (map stream ${controlUrl.href}; database ${redact(parsed.database)})\n` +
      `token key ${tokenKey}\n` +
      parsed.relays.map((r) => relayStartLine(r, tokenKey)).join("") +
      ownerLine,
  );
  const signal = await signals.first;
  const shutdown = log.child({ component: "shutdown" });
  process.stdout.write("corridor control: shutting down; map streams are told to come back\n");
  await drain(
    { ...server, streams: () => server.control.hub.attachedCount },
    parsed.drainMs,
    signals,
    shutdown,
    signal,
  );
  shutdown.info({ streams: server.control.hub.attachedCount }, "shutdown: closing map streams");
  await server.close();
  await store.close();
  shutdown.info({}, "shutdown: done");
  return 0;
}
