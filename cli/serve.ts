// `corridor serve`: the page, the relay and the control server on one port (what `npm start`
// runs). On loopback the relay is open by default, which is what a developer trying Corridor
// on one machine wants; on any other address the operator must choose who may connect, as with
// `corridor relay`. Whatever is chosen, the relay also takes the tokens of the control server
// beside it (no flag needed): "open" stays open to every proven key (wg-quick networks in the
// page need that), and a control token adds its UDP allowances. The control server keeps its
// state in DIR/control.db (or --database). The page is built first when dist/ holds none.
// SIGTERM and SIGINT drain (drain.ts: /readyz 503, new map streams refused, --drain SECONDS),
// close the map streams (1012), tell relay clients to come back, close the server, then the
// database. Private URLs (docs/private-urls.md): every `<label>.corridor.localhost`
// Host is an app origin, and --apps-domain adds one under the page's own site for production.
// --relay-url (with --relay-key, ...) lists further relays in the maps after this one
// (relay-list.ts): nodes pick their home relay among them by latency.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ControlMount, type ControlService, startControlService } from "../server/control/http.ts";
import type { Store } from "../server/control/store/types.ts";
import { createLogger, MetricsRegistry, type RelayAuth } from "../server/relay/index.ts";
import { UdpBridge } from "../server/relay/udp-bridge.ts";
import { relayConnectSources } from "../server/web/headers.ts";
import { startServe } from "../server/web/serve.ts";
import { pinnedRelayUrl } from "../worker/relay/relay-url.ts";
import { keyToBase64 } from "../worker/wireguard/keys.ts";
import { runCommand } from "./args.ts";
import {
  CONTROL_DB_FILE,
  openControlStore,
  ownerLinkLines,
  redact,
  relayUrlOf,
} from "./control-flags.ts";
import { defaultDataDir, prepareDataDir, RELAY_KEY_FILE } from "./data-dir.ts";
import { drain, stopSignals } from "./drain.ts";
import { describeRelay, startStunListener, stunAddress } from "./relay-flags.ts";
import { loadOrCreateRelayKey } from "./relay-key.ts";
import { relayStartLine } from "./relay-list.ts";
import { SERVE_COMMAND, type ServeArgs, serveArgs } from "./serve-args.ts";
import {
  browserOrigins,
  noUdpLine,
  pageLine,
  pageOwnerLink,
  pageUrl,
  privateUrlLine,
} from "./serve-lines.ts";

/** The command's spec, beside its run (main.ts loads both from here). */
export { SERVE_COMMAND };

/** The package's root: cli/ is one level down. */
const PACKAGE_ROOT = join(fileURLToPath(new URL(".", import.meta.url)), "..");

/** Runs `npm run build` in the package (the wasm core, then Vite); its output goes to stderr. */
function buildPage(): Promise<boolean> {
  return new Promise((resolve) => {
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    const child = spawn(npm, ["run", "build"], {
      cwd: PACKAGE_ROOT,
      stdio: ["ignore", process.stderr, process.stderr],
    });
    child.on("error", () => resolve(false));
    child.on("close", (code) => resolve(code === 0));
  });
}

/** Runs `corridor serve` until SIGTERM/SIGINT; returns the exit status. */
export function serveCommand(argv: string[]): Promise<number> {
  return runCommand(SERVE_COMMAND, argv, (args) => serve(serveArgs(args)));
}

async function serve(parsed: ServeArgs): Promise<number> {
  const web = parsed.web ?? join(PACKAGE_ROOT, "dist");
  if (!existsSync(join(web, "index.html"))) {
    if (parsed.web !== undefined) {
      process.stderr.write(`corridor serve: --web ${web}: no index.html there\n`);
      return 1;
    }
    process.stderr.write("building the page…\n");
    if (!(await buildPage())) {
      process.stderr.write("corridor serve: `npm run build` failed; see its output above\n");
      return 1;
    }
  }
  let bridge: UdpBridge;
  try {
    bridge = new UdpBridge({ allow: parsed.allowUdp });
  } catch (error) {
    process.stderr.write(`corridor serve: --allow-udp: ${(error as Error).message}\n`);
    return 2;
  }
  const dataDir = resolve(parsed.data ?? defaultDataDir());
  const keyFile = join(dataDir, RELAY_KEY_FILE);
  const database = parsed.database ?? join(dataDir, CONTROL_DB_FILE);
  let privateKey: Uint8Array;
  let store: Store;
  let tokenPublicKey: Uint8Array;
  try {
    const dirWarning = prepareDataDir(dataDir);
    if (dirWarning !== null) process.stderr.write(`corridor serve: ${dirWarning}\n`);
    const key = await loadOrCreateRelayKey(keyFile);
    if (key.warning !== null) process.stderr.write(`corridor serve: ${key.warning}\n`);
    privateKey = key.privateKey;
    ({ store, tokenPublicKey } = await openControlStore(database));
  } catch (error) {
    bridge.close();
    process.stderr.write(`corridor serve: ${(error as Error).message}\n`);
    return 1;
  }
  const chosen: RelayAuth = parsed.auth ?? { mode: "open" };
  const auth: RelayAuth = {
    mode: "union",
    of: [chosen, { mode: "token", controlPublicKey: tokenPublicKey }],
  };
  const metrics = new MetricsRegistry();
  const logger = createLogger();
  const mount = new ControlMount();
  const publicOrigin = parsed.publicUrl === undefined ? [] : [new URL(parsed.publicUrl).origin];
  // Pages reach their peers' home relays: the other relays go into the page's CSP.
  const relayCsp = relayConnectSources(parsed.otherRelays.map((relay) => relay.url));
  for (const url of relayCsp.unusable) {
    process.stderr.write(
      `corridor serve: warning: pages cannot reach the relay at ${url} (a page's CSP can name ` +
        "only a ws:// or wss:// URL with a DNS name, no trailing dot, or an IPv4 address)\n",
    );
  }
  let server: Awaited<ReturnType<typeof startServe>>;
  try {
    server = await startServe({
      host: parsed.host,
      port: parsed.port,
      webRoot: web,
      relaySources: relayCsp.sources,
      mount,
      readiness: mount.readiness,
      appsDomains: parsed.appsDomain === undefined ? [] : [parsed.appsDomain],
      pageHosts: parsed.publicUrl === undefined ? [] : [new URL(parsed.publicUrl).hostname],
      // App origins' config.json names the Corridor origin from it (its scheme above all).
      publicUrl: parsed.publicUrl,
      relay: {
        privateKey,
        auth,
        relayId: parsed.relayId,
        region: parsed.region,
        udpBridge: bridge,
        origins: [...parsed.origins, ...publicOrigin],
        allowedHosts: parsed.allowedHosts,
        metrics,
        logger,
      },
    });
  } catch (error) {
    bridge.close();
    await store.close();
    process.stderr.write(`corridor serve: ${(error as Error).message}\n`);
    return 1;
  } finally {
    // The relay holds its own copy: ours need not stay in memory.
    privateKey.fill(0);
  }
  const baseUrl = parsed.publicUrl ?? pageUrl(parsed.host, server.port);
  const relayKey = keyToBase64(server.relay.relayPublicKey);
  let stun: Awaited<ReturnType<typeof startStunListener>>;
  try {
    stun = await startStunListener(parsed.host, parsed.stun ?? server.port, logger);
  } catch (error) {
    if (parsed.stun !== undefined) {
      await server.close();
      bridge.close();
      await store.close();
      process.stderr.write(`corridor serve: ${(error as Error).message}\n`);
      return 1;
    }
    // The default port: a UDP port of that number may belong to something else. Carry on
    // without STUN (agents then find direct paths by their local addresses only).
    process.stderr.write(
      `corridor serve: STUN off: ${(error as Error).message} (--stun PORT picks another port)\n`,
    );
    stun = null;
  }
  // Nodes reach the STUN listener where they reach the page: the public URL's host.
  const stunInfo = stun === null ? {} : { stun: `${new URL(baseUrl).hostname}:${stun.port}` };
  let control: ControlService;
  let ownerLine = "";
  try {
    control = await startControlService(mount, {
      store,
      relays: [
        {
          id: parsed.relayId,
          region: parsed.region,
          url: relayUrlOf(baseUrl),
          key: relayKey,
          ...stunInfo,
        },
        ...parsed.otherRelays,
      ],
      baseUrl,
      browserOrigins: browserOrigins(parsed, server.port),
      ...(parsed.appsDomain === undefined ? {} : { appsDomain: parsed.appsDomain }),
      oidc: parsed.oidc,
      metrics,
      log: logger,
    });
    if (control.oidc === null) {
      ownerLine = await ownerLinkLines(store, baseUrl, `--data ${dataDir}`);
    }
  } catch (error) {
    await stun?.close();
    await server.close();
    bridge.close();
    await store.close();
    process.stderr.write(`corridor serve: control server: ${(error as Error).message}\n`);
    return 1;
  }
  // Listen for the stop signal before announcing the start: whoever reads the line may
  // signal at once, and an unhandled SIGTERM would kill us without the shutdown.
  const signals = stopSignals();
  const signIn = parsed.oidc === undefined ? "owner link below" : `OIDC at ${parsed.oidc.issuer}`;
  const tokenKey = Buffer.from(control.control.tokenPublicKey).toString("base64");
  process.stdout.write(
    pageLine(parsed, server.port, baseUrl) +
      `Corridor is running at ${baseUrl}\n` +
      privateUrlLine(parsed, server.port) +
      `relay ${parsed.relayId} at ${server.relayUrl} ` +
      `(${describeRelay(chosen, parsed.allowUdp, server.relay.allowedOrigins)}; and control tokens); ` +
      `relay key ${relayKey} (in ${keyFile})\n` +
      `pinned relay URL: ${pinnedRelayUrl(server.relayUrl, server.relay.relayPublicKey)}\n` +
      noUdpLine(parsed.allowUdp) +
      `STUN ${stun === null ? "off" : `on udp ${stunAddress(parsed.host, stun.port)} (maps: ${stunInfo.stun})`}\n` +
      `control server: map stream at ${relayUrlOf(baseUrl).replace(/\/relay$/, "/control")}, ` +
      `API at ${new URL("/api/v1/", baseUrl).href}, sign-in: ${signIn}; ` +
      `token key ${tokenKey}\n` +
      parsed.otherRelays.map((relay) => relayStartLine(relay, tokenKey)).join("") +
      `data in ${dataDir} (database ${redact(database)})\n` +
      pageOwnerLink(parsed, server.port, ownerLine),
  );
  const signal = await signals.first;
  const shutdown = logger.child({ component: "shutdown" });
  process.stdout.write("corridor serve: shutting down; relay clients are told to come back\n");
  const streams = () => control.control.hub.attachedCount;
  await drain({ ...control, streams }, parsed.drainMs, signals, shutdown, signal);
  shutdown.info({ streams: streams() }, "shutdown: closing map streams");
  await control.close();
  await server.close({ restarting: { reconnectInMs: 1000, tryForMs: 60_000 } });
  await stun?.close();
  bridge.close();
  await store.close();
  shutdown.info({}, "shutdown: done");
  return 0;
}
