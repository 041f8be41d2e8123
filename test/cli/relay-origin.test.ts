// Which web pages may use the relay of `corridor serve` and `corridor relay`, run as the real
// commands: a page of another web site (Origin https://evil.example) is refused before any
// WebSocket exists, the page `corridor serve` serves is accepted under each of its spellings,
// `--origin` widens the list, and `corridor relay` alone accepts no page until told. Also the
// Host allow-list of /healthz and /metrics (DNS rebinding: a foreign name gets 421).

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { connectAuthed, connectRaw, nodeKeys, type RawClient } from "../relay/raw-client.ts";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

let web: string;
let state: string;
const children: ChildProcess[] = [];
const clients: RawClient[] = [];

beforeAll(() => {
  web = mkdtempSync(join(tmpdir(), "corridor-origin-"));
  state = mkdtempSync(join(tmpdir(), "corridor-origin-state-"));
  writeFileSync(join(web, "index.html"), "<!doctype html><title>t</title>\n");
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once("close", resolve));
    child.kill("SIGKILL");
    await exited;
  }
});

afterAll(() => {
  rmSync(web, { recursive: true, force: true });
  rmSync(state, { recursive: true, force: true });
});

/** Runs `corridor ARGS` and resolves with its port once it prints its relay URL. */
function runCorridor(args: string[]): Promise<{ port: number; stdout: () => string }> {
  // `corridor serve` keeps its relay key in its data folder: a temporary one, not the user's.
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, XDG_STATE_HOME: state },
  });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      const match = /ws:\/\/127\.0\.0\.1:(\d+)\/relay[^\n]*\n/.exec(stdout);
      if (match) resolve({ port: Number(match[1]), stdout: () => stdout });
    });
    child.once("close", (code) => reject(new Error(`exited ${code}: ${stdout}${stderr}`)));
  });
}

/** GET `path` with a chosen Host header: status and body. */
function getWithHost(port: number, path: string, host: string): Promise<[number, string]> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { host } }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => {
        body += d.toString();
      });
      res.on("end", () => resolve([res.statusCode ?? 0, body]));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("corridor serve: web pages that may use its relay", () => {
  it("refuses another site's page (403) and accepts the page it serves, under each spelling", async () => {
    const { port, stdout } = await runCorridor(["serve", "--port", "0", "--web", web]);
    const url = `ws://127.0.0.1:${port}/relay`;
    expect(stdout()).toContain(`web pages: http://127.0.0.1:${port} `);
    // The reproduction of issue 12: a page on evil.example opening the user's relay.
    await expect(connectRaw(url, { origin: "https://evil.example" })).rejects.toThrow("HTTP 403");
    for (const foreign of [
      `http://127.0.0.1:${port + 1 > 65535 ? port - 1 : port + 1}`, // another local service
      `https://127.0.0.1:${port}`,
      `http://evil.localhost:${port}`,
      "null", // sandboxed frames and file: pages
    ]) {
      await expect(connectRaw(url, { origin: foreign }), foreign).rejects.toThrow("HTTP 403");
    }
    // The page's own origin, as the browser spells it under each loopback name, gets WELCOME.
    for (const own of [
      `http://127.0.0.1:${port}`,
      `http://localhost:${port}`,
      `http://corridor.localhost:${port}`,
      `http://[::1]:${port}`,
    ]) {
      clients.push(await connectAuthed(url, await nodeKeys(), { origin: own }));
    }
    // Clients that are not browsers send no Origin and still connect.
    clients.push(await connectAuthed(url, await nodeKeys()));
    const [status, metrics] = await getWithHost(port, "/metrics", `127.0.0.1:${port}`);
    expect(status).toBe(200);
    expect(metrics).toContain('corridor_relay_upgrades_rejected_total{reason="origin"} 5');
    expect(metrics).toContain('corridor_relay_hellos_total{result="ok"} 5');
  });

  it("--origin adds a page origin; a malformed one is refused at start", async () => {
    const { port } = await runCorridor([
      "serve",
      "--port",
      "0",
      "--web",
      web,
      "--origin",
      "https://corridor.example/",
    ]);
    const url = `ws://127.0.0.1:${port}/relay`;
    clients.push(
      await connectAuthed(url, await nodeKeys(), { origin: "https://corridor.example" }),
    );
    clients.push(
      await connectAuthed(url, await nodeKeys(), { origin: `http://127.0.0.1:${port}` }),
    );
    await expect(connectRaw(url, { origin: "https://evil.example" })).rejects.toThrow("HTTP 403");
    for (const [bad, says] of [
      ["https://corridor.example/app", "must be scheme://host[:port] only, without a path"],
      ["corridor.example", "is not a URL"],
      ["ftp://corridor.example", "must start with http:// or https://"],
    ] as const) {
      const run = spawnSync(process.execPath, [bin, "serve", "--web", web, "--origin", bad], {
        encoding: "utf8",
        timeout: 30_000,
      });
      expect(run.status, bad).toBe(2);
      expect(run.stderr).toContain(`corridor serve: --origin: origin '${bad}' ${says}`);
    }
  });

  it("answers /healthz and /metrics only to IP literals and its own names (421 otherwise)", async () => {
    const { port } = await runCorridor([
      "serve",
      "--port",
      "0",
      "--web",
      web,
      "--allow-host",
      "metrics.internal",
    ]);
    for (const host of [
      `127.0.0.1:${port}`,
      `[::1]:${port}`,
      `localhost:${port}`,
      `corridor.localhost:${port}`,
      "CORRIDOR.LOCALHOST.",
      `metrics.internal:${port}`,
      "10.9.8.7",
    ]) {
      expect(await getWithHost(port, "/healthz", host), host).toEqual([200, "ok\n"]);
    }
    // A rebinding attacker's page asks with its own name: refused, and counted.
    for (const host of [`evil.example:${port}`, "localhost.evil.example", "x y"]) {
      for (const path of ["/healthz", "/metrics"]) {
        expect(await getWithHost(port, path, host), `${path} ${host}`).toEqual([
          421,
          "this relay does not answer that Host name\n",
        ]);
      }
    }
    const [, metrics] = await getWithHost(port, "/metrics", "127.0.0.1");
    expect(metrics).toContain("corridor_relay_host_refused_total 6");
    // The page itself is public and answers any Host (it holds nothing to steal).
    expect((await getWithHost(port, "/", "evil.example"))[0]).toBe(200);
  });
});

describe("corridor relay: no web page unless --origin names it", () => {
  it("refuses every page origin by default and accepts the ones --origin lists", async () => {
    const closed = await runCorridor(["relay", "--open", "--listen", "127.0.0.1:0"]);
    const closedUrl = `ws://127.0.0.1:${closed.port}/relay`;
    expect(closed.stdout()).toContain("web pages: none (no --origin)");
    await expect(
      connectRaw(closedUrl, { origin: `http://127.0.0.1:${closed.port}` }),
    ).rejects.toThrow("HTTP 403");
    clients.push(await connectAuthed(closedUrl, await nodeKeys()));

    const open = await runCorridor([
      "relay",
      "--open",
      "--listen",
      "127.0.0.1:0",
      "--origin",
      "https://app.example:8443",
    ]);
    const openUrl = `ws://127.0.0.1:${open.port}/relay`;
    expect(open.stdout()).toContain("web pages: https://app.example:8443)");
    clients.push(
      await connectAuthed(openUrl, await nodeKeys(), { origin: "https://app.example:8443" }),
    );
    await expect(connectRaw(openUrl, { origin: "https://app.example" })).rejects.toThrow(
      "HTTP 403",
    );
  });
});
