// `corridor serve --relay-url` lets pages reach the other relays: the real command, run with a
// second relay at a DNS name and a third at an IPv6 literal, serves its page with the second
// relay's scheme and host in connect-src, and says at start that pages cannot reach the third
// (a CSP source cannot name an IPv6 literal). Chromium applying such a policy:
// test/e2e/relay-csp.test.ts.

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "corridor-serve-csp-"));
let child: ChildProcess | undefined;

afterAll(async () => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child!.once("close", resolve));
    child.kill("SIGKILL");
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

it("puts the other relays in the page's connect-src and warns of one it cannot name", async () => {
  const web = join(dir, "web");
  mkdirSync(web);
  writeFileSync(join(web, "index.html"), "<!doctype html><title>t</title>\n");
  const key = () => keyToBase64(randomBytes(32));
  child = spawn(
    process.execPath,
    [
      bin,
      ...["serve", "--port", "0", "--web", web, "--data", join(dir, "data")],
      ...["--relay-url", "wss://relay-2.example.net/relay", "--relay-key", key()],
      ...["--relay-url", "ws://[::1]:9/relay", "--relay-key", key()],
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const pageUrl = await new Promise<string>((resolve, reject) => {
    child!.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString();
      const running = /Corridor is running at (http:\/\/\S+)/.exec(stdout);
      if (running !== null) resolve(running[1]!);
    });
    child!.once("close", (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  const reply = await fetch(pageUrl);
  expect(reply.status).toBe(200);
  const connectSrc = /connect-src ([^;]*)/
    .exec(reply.headers.get("content-security-policy") ?? "")?.[1]
    ?.split(" ");
  expect(connectSrc).toContain("wss://relay-2.example.net");
  expect(connectSrc?.some((source) => source.includes("["))).toBe(false);
  expect(stderr).toContain(
    "corridor serve: warning: pages cannot reach the relay at ws://[::1]:9/relay",
  );
}, 60_000);
