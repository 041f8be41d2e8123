// `corridor serve`'s start lines say when the relay can reach no WireGuard host (issue 15): no
// --allow-udp means the page's wg-quick networks stay offline, and the line names the flag;
// with --allow-udp the line is not there.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Server } from "./control-helpers.ts";

let dir: string;
let web: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "corridor-serve-udp-"));
  web = join(dir, "web");
  mkdirSync(web);
  writeFileSync(join(web, "index.html"), "<!doctype html><title>t</title>\n");
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function startLines(name: string, extra: string[]): Promise<string> {
  const server = new Server([
    "serve",
    "--port",
    "0",
    "--web",
    web,
    "--data",
    join(dir, name),
    ...extra,
  ]);
  try {
    await server.waitFor(/\n {2}\(valid 15 minutes/);
    return server.stdout;
  } finally {
    await server.stop();
  }
}

it("without --allow-udp says no WireGuard host can be reached, and how to allow one", async () => {
  const out = await startLines("none", []);
  expect(out).toContain(
    "\nno --allow-udp: the relay reaches no WireGuard host (the page's wg-quick networks stay offline); start with --allow-udp IP/32:PORT for each host's Endpoint (mesh agents need none)\n",
  );
}, 60_000);

it("with --allow-udp says nothing of the kind", async () => {
  const out = await startLines("some", ["--allow-udp", "192.0.2.7/32:51820"]);
  expect(out).toContain("udp bridge: 192.0.2.7/32:51820");
  expect(out).not.toContain("no --allow-udp");
}, 60_000);
