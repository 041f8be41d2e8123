// Real web apps we did not write, for the private-URL tests and bench:http: Jupyter Notebook
// (Debian jupyter-notebook), Transmission's RPC and web UI (transmission-daemon) and the aiohttp
// edge-case app (test/fixtures/apps/edge_app.py). Each starts either on loopback or inside a
// wireguard-go host's namespace (test/interop/wg-host.ts) on its tunnel address, with a
// throwaway config dir, and resolves once it answers; stop() kills it and removes the dir.
//
//   const app = await startEdgeApp({ host });        // http://100.64.0.2:8080
//   const jupyter = await startJupyter("loopback");  // http://127.0.0.1:<port>
//
// In a namespace each app has a fixed default port (edge 8080, Jupyter 8888, Transmission 9091):
// the namespace is the test's own. On loopback the port is reserved per test worker.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { WgHost } from "../interop/wg-host.ts";
import { PortInUseError, withPortRetry } from "./ports.ts";
import { type Check, check, executable, type Prereq, prereq } from "./prereq.ts";

/** Where an app runs: on 127.0.0.1, or on the tunnel address of a wireguard-go host. */
export type AppPlace = "loopback" | { host: WgHost };

/** A running app. */
export interface RunningApp {
  /** `http://ADDRESS:PORT` (no trailing slash). */
  readonly url: string;
  readonly address: string;
  readonly port: number;
  /** Its throwaway directory (config, data, runtime). */
  readonly dir: string;
  /** The last ~64 KiB it printed, for failure messages. */
  log(): string;
  /** Kills it and removes its directory; safe to call twice. */
  stop(): Promise<void>;
}

/** The Python that has aiohttp (the Debian one; a pyenv python3 on PATH often has not). */
export const APP_PYTHON = "/usr/bin/python3";
const JUPYTER = "/usr/bin/jupyter-notebook";
const TRANSMISSION = "/usr/bin/transmission-daemon";
const EDGE_APP = new URL("../fixtures/apps/edge_app.py", import.meta.url).pathname;

function pythonHas(module: string): Check {
  let ok = false;
  try {
    execFileSync(APP_PYTHON, ["-c", `import ${module}`], { stdio: "ignore" });
    ok = true;
  } catch {}
  return check(`${APP_PYTHON} with ${module}`, ok);
}

/** The edge app needs /usr/bin/python3 with aiohttp (python3-aiohttp). */
export function edgeAppPrereq(): Prereq {
  return prereq(executable(APP_PYTHON), pythonHas("aiohttp"));
}
/** Jupyter needs jupyter-notebook and, for its kernel, ipykernel. */
export function jupyterPrereq(): Prereq {
  return prereq(executable(JUPYTER), pythonHas("ipykernel"));
}
/** Transmission needs transmission-daemon (scripts/install-deps.sh). */
export function transmissionPrereq(): Prereq {
  return prereq(executable(TRANSMISSION));
}

/** The byte at offset `i` of every edge-app download: `i % 251`. */
export function edgePattern(offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (offset + i) % 251;
  return out;
}

interface Launch {
  place: AppPlace;
  /** The argv; `env` is put in front through /usr/bin/env (a namespace's spawn takes no env). */
  argv: (address: string, port: number) => string[];
  env?: Record<string, string>;
  /** The printed line that says it listens; its first group, if any, is the port. */
  ready: RegExp;
  /** The printed line that says the port is taken (loopback retries another). */
  inUse?: RegExp;
  port: number;
  dir: string;
  name: string;
  timeoutMs?: number;
}

async function launch(l: Launch): Promise<RunningApp> {
  const inNamespace = l.place !== "loopback";
  const address = l.place === "loopback" ? "127.0.0.1" : l.place.host.tunnelAddress;
  const start = (port: number) =>
    new Promise<{ child: ChildProcess; port: number; log: () => string }>((resolve, reject) => {
      const env = Object.entries(l.env ?? {}).map(([k, v]) => `${k}=${v}`);
      const cmd = ["/usr/bin/env", ...env, ...l.argv(address, port)];
      const child =
        l.place === "loopback"
          ? spawn(cmd[0]!, cmd.slice(1), { cwd: l.dir, stdio: ["ignore", "pipe", "pipe"] })
          : l.place.host.spawn(cmd);
      let text = "";
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(
          new Error(`${l.name} not ready in ${l.timeoutMs ?? 30_000} ms: ${text.slice(-800)}`),
        );
      }, l.timeoutMs ?? 30_000);
      const onData = (chunk: Buffer) => {
        text = (text + chunk.toString()).slice(-65536);
        const ready = l.ready.exec(text);
        if (ready) {
          clearTimeout(timer);
          resolve({ child, port: Number(ready[1] ?? port), log: () => text });
        } else if (l.inUse?.test(text)) {
          clearTimeout(timer);
          child.kill("SIGKILL");
          reject(new PortInUseError(port, text.slice(-200)));
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${l.name} exited (${code ?? signal}): ${text.slice(-800)}`));
      });
    });
  let started: Awaited<ReturnType<typeof start>>;
  try {
    started =
      inNamespace || l.port === 0 ? await start(l.port) : await withPortRetry((p) => start(p));
  } catch (error) {
    rmSync(l.dir, { recursive: true, force: true });
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    url: `http://${address}:${started.port}`,
    address,
    port: started.port,
    dir: l.dir,
    log: started.log,
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        const { child } = started;
        const done = () => {
          rmSync(l.dir, { recursive: true, force: true });
          resolve();
        };
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once("exit", done);
        child.kill("SIGKILL");
      });
      return stopping;
    },
  };
}

/** The edge app (test/fixtures/apps/edge_app.py) with its login and Basic credentials. */
export interface EdgeApp extends RunningApp {
  readonly user: string;
  readonly password: string;
}

/** Starts the aiohttp edge app; on loopback on any free port (it prints the one it got). */
export async function startEdgeApp(
  place: AppPlace,
  options: { port?: number; user?: string; password?: string } = {},
): Promise<EdgeApp> {
  const user = options.user ?? "corridor";
  const password = options.password ?? "edge-secret";
  const app = await launch({
    place,
    name: "edge app (aiohttp)",
    dir: mkdtempSync(join(tmpdir(), "corridor-app-edge-")),
    port: options.port ?? (place === "loopback" ? 0 : 8080),
    argv: (address, port) => [APP_PYTHON, EDGE_APP, address, String(port), user, password],
    ready: /ready (\d+)/,
  });
  return { ...app, user, password };
}

/** A running Jupyter Notebook and its login token. */
export interface JupyterApp extends RunningApp {
  readonly token: string;
}

/**
 * Starts Jupyter Notebook 6 with a token login (the login form takes the token as its
 * password), no browser, its config, data and runtime dirs and HOME in a throwaway dir, the
 * notebook dir inside it. Its kernel WebSocket keeps Jupyter's own Origin check.
 */
export async function startJupyter(
  place: AppPlace,
  options: { port?: number; token?: string } = {},
): Promise<JupyterApp> {
  const token = options.token ?? "corridor-jupyter-token";
  const dir = mkdtempSync(join(tmpdir(), "corridor-app-jupyter-"));
  const app = await launch({
    place,
    name: "jupyter-notebook",
    dir,
    port: options.port ?? 8888,
    env: {
      HOME: dir,
      JUPYTER_CONFIG_DIR: join(dir, "config"),
      JUPYTER_DATA_DIR: join(dir, "data"),
      JUPYTER_RUNTIME_DIR: join(dir, "runtime"),
      IPYTHONDIR: join(dir, "ipython"),
    },
    argv: (address, port) => [
      JUPYTER,
      "--no-browser",
      `--ip=${address}`,
      `--port=${port}`,
      "--port-retries=0",
      `--NotebookApp.token=${token}`,
      // Its Host check: the engine sends Host: <mesh name>:<port>, not a loopback name.
      "--NotebookApp.allow_remote_access=True",
      "--allow-root",
      `--notebook-dir=${dir}`,
    ],
    ready: /is running at/,
    inUse: /already in use|Address already/,
    timeoutMs: 60_000,
  });
  return { ...app, token };
}

/** A running transmission-daemon and its RPC credentials. */
export interface TransmissionApp extends RunningApp {
  readonly user: string;
  readonly password: string;
  /** `${url}/transmission/rpc`. */
  readonly rpc: string;
}

/**
 * Starts transmission-daemon in the foreground with a throwaway config dir: RPC and web UI on
 * the place's address with Basic auth, no address or Host whitelist (the engine sends
 * `Host: <mesh name>:<port>`), DHT, LPD, PEX, uTP and port forwarding off.
 */
export async function startTransmission(
  place: AppPlace,
  options: { port?: number; user?: string; password?: string } = {},
): Promise<TransmissionApp> {
  const user = options.user ?? "corridor";
  const password = options.password ?? "transmission-secret";
  const dir = mkdtempSync(join(tmpdir(), "corridor-app-transmission-"));
  const app = await launch({
    place,
    name: "transmission-daemon",
    dir,
    port: options.port ?? 9091,
    argv: (address, port) => {
      const settings = {
        "rpc-enabled": true,
        "rpc-bind-address": address,
        "rpc-port": port,
        "rpc-authentication-required": true,
        "rpc-username": user,
        "rpc-password": password,
        "rpc-whitelist-enabled": false,
        "rpc-host-whitelist-enabled": false,
        "bind-address-ipv4": address,
        "peer-port-random-on-start": true,
        "dht-enabled": false,
        "lpd-enabled": false,
        "pex-enabled": false,
        "utp-enabled": false,
        "port-forwarding-enabled": false,
        "download-dir": join(dir, "downloads"),
        "incomplete-dir-enabled": false,
        "watch-dir-enabled": false,
      };
      writeFileSync(join(dir, "settings.json"), JSON.stringify(settings, null, 2));
      return [TRANSMISSION, "-f", "-g", dir];
    },
    ready: /Serving RPC and Web requests/,
    inUse: /Couldn't bind|Address already in use/i,
  });
  return { ...app, user, password, rpc: `${app.url}/transmission/rpc` };
}
