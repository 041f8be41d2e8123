// `corridor serve`: the page and the relay on one port (what `npm start` runs). On loopback
// the relay is open by default, which is what a developer trying Corridor on one machine
// wants; on any other address the operator must choose who may connect, as with `corridor
// relay`. The page is built first when dist/ holds none. SIGTERM and SIGINT tell relay
// clients to come back before the server closes.

import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { isIPv4, isIPv6 } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RelayAuth } from "../server/relay/index.ts";
import { UdpBridge } from "../server/relay/udp-bridge.ts";
import { startServe } from "../server/web/serve.ts";
import { keyFromBase64, keyToBase64 } from "../worker/wireguard/keys.ts";

export const SERVE_USAGE = `usage: corridor serve [--listen HOST:PORT] [--host ADDR] [--port N] [--web DIR]
                      [--open | --allow-keys FILE | --control-key PUB]
                      [--allow-udp CIDR[:PORTS]]... [--origin ORIGIN]... [--relay-id ID]

  --listen HOST:PORT   where to listen (default 127.0.0.1:8080): the page on /, the relay on /relay
  --host ADDR          the listen address alone
  --port N             the listen port alone (0 picks a free one)
  --web DIR            the built page to serve (default: dist/ of this package, built if missing)
  --open               anyone may use the relay (the default on a loopback address only)
  --allow-keys FILE    WireGuard public keys (base64, one per line, # comments) that may connect
  --control-key PUB    the control server's Ed25519 public key (base64): connect with its tokens
  --allow-udp SPEC     stock WireGuard endpoints the UDP bridge may reach: CIDR, CIDR:PORT or
                       CIDR:LO-HI (repeatable)
  --origin ORIGIN      accept relay connections from pages of this Origin only (repeatable)
  --relay-id ID        the relay's id in WELCOME and tokens (default: the host name)
`;

/** The package's root: cli/ is one level down. */
const PACKAGE_ROOT = join(fileURLToPath(new URL(".", import.meta.url)), "..");

interface ServeArgs {
  host: string;
  port: number;
  auth: RelayAuth | undefined;
  allowUdp: string[];
  origins: string[];
  relayId: string;
  web: string | undefined;
}

/** Whether `host` names this machine's loopback only (a default-open relay is safe there). */
export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIPv4(host)) return host.startsWith("127.");
  if (isIPv6(host)) return host === "::1" || /^::ffff:127\./i.test(host);
  return false;
}

function parsePort(text: string, flag: string): number | string {
  const port = Number(text);
  if (text === "" || !Number.isInteger(port) || port < 0 || port > 65535) {
    return `${flag} '${text}': expected a port from 0 to 65535`;
  }
  return port;
}

function parseArgs(args: string[]): ServeArgs | string {
  const out: ServeArgs = {
    host: "127.0.0.1",
    port: 8080,
    auth: undefined,
    allowUdp: [],
    origins: [],
    relayId: hostname(),
    web: undefined,
  };
  const choose = (auth: RelayAuth): string | undefined => {
    if (out.auth) return "choose one of --allow-keys, --control-key and --open";
    out.auth = auth;
    return undefined;
  };
  // `--flag=value` is accepted too, as npm users tend to write it.
  const words = args.flatMap((a) =>
    /^--[a-z-]+=/.test(a) ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a],
  );
  for (let i = 0; i < words.length; i++) {
    const arg = words[i]!;
    let problem: string | undefined;
    if (arg === "--open") {
      problem = choose({ mode: "open" });
      if (problem) return problem;
      continue;
    }
    const value = words[++i];
    if (value === undefined) return `${arg} needs a value`;
    if (arg === "--listen") {
      const colon = value.lastIndexOf(":");
      const port = parsePort(value.slice(colon + 1), "--listen");
      if (colon < 1 || typeof port === "string") {
        return `--listen '${value}': expected HOST:PORT with a port from 0 to 65535`;
      }
      out.host = value.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
      out.port = port;
    } else if (arg === "--host") out.host = value.replace(/^\[(.*)\]$/, "$1");
    else if (arg === "--port") {
      const port = parsePort(value, "--port");
      if (typeof port === "string") return port;
      out.port = port;
    } else if (arg === "--allow-keys") problem = choose({ mode: "keys", allowed: readKeys(value) });
    else if (arg === "--control-key") {
      problem = choose({ mode: "token", controlPublicKey: keyFromBase64(value, "--control-key") });
    } else if (arg === "--allow-udp") out.allowUdp.push(value);
    else if (arg === "--origin") out.origins.push(value);
    else if (arg === "--relay-id") out.relayId = value;
    else if (arg === "--web") out.web = value;
    else problem = `unknown argument ${arg}`;
    if (problem) return problem;
  }
  if (out.auth === undefined && !isLoopback(out.host)) {
    return (
      `listening on ${out.host} (not a loopback address) needs a choice of who may use the ` +
      "relay: --allow-keys FILE, --control-key PUB, or --open if anyone may"
    );
  }
  return out;
}

/** Reads an allow-list of base64 WireGuard public keys (one per line, '#' comments). */
function readKeys(file: string): Uint8Array[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .map((line, i) => [line.replace(/#.*/, "").trim(), i + 1] as const)
    .filter(([line]) => line.length > 0)
    .map(([line, n]) => keyFromBase64(line, `${file}: line ${n}`));
}

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

/** The URL a person opens: an unspecified listen address is reached through loopback. */
function pageUrl(host: string, port: number): string {
  const reach = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "[::1]" : host;
  return `http://${reach.includes(":") && !reach.startsWith("[") ? `[${reach}]` : reach}:${port}/`;
}

/** Runs `corridor serve` until SIGTERM/SIGINT; returns the exit status. */
export async function serveCommand(args: string[]): Promise<number> {
  let parsed: ServeArgs | string;
  try {
    parsed = parseArgs(args);
  } catch (error) {
    parsed = (error as Error).message;
  }
  if (typeof parsed === "string") {
    process.stderr.write(`corridor serve: ${parsed}\n\n${SERVE_USAGE}`);
    return 2;
  }
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
  const auth: RelayAuth = parsed.auth ?? { mode: "open" };
  let server: Awaited<ReturnType<typeof startServe>>;
  try {
    server = await startServe({
      host: parsed.host,
      port: parsed.port,
      webRoot: web,
      relay: {
        auth,
        relayId: parsed.relayId,
        udpBridge: bridge,
        origins: parsed.origins.length > 0 ? parsed.origins : undefined,
      },
    });
  } catch (error) {
    bridge.close();
    process.stderr.write(`corridor serve: ${(error as Error).message}\n`);
    return 1;
  }
  const mode = auth.mode === "keys" ? `${auth.allowed.length} allowed keys` : auth.mode;
  const udp = parsed.allowUdp.length > 0 ? parsed.allowUdp.join(", ") : "token allowances only";
  process.stdout.write(
    `Corridor is running at ${pageUrl(parsed.host, server.port)}\n` +
      `relay ${parsed.relayId} at ${server.relayUrl} (auth: ${mode}; udp bridge: ${udp}); ` +
      `relay key ${keyToBase64(server.relay.relayPublicKey)}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  process.stdout.write("corridor serve: shutting down; relay clients are told to come back\n");
  await server.close({ restarting: { reconnectInMs: 1000, tryForMs: 60_000 } });
  bridge.close();
  return 0;
}
