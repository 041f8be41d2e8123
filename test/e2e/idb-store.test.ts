// What the engine keeps in the browser (issue 12, item 10), in Debian's Chromium:
//  - worker/engine/idb-store.ts in a module Worker: records per kind, replaced by id, deleted,
//    kept across a reload, and an uncloneable value refused with the browser's own error;
//  - the page's promise that "Don't save" never writes a private key to IndexedDB:
//    a tab-only network and SSH key leave no trace in the database (searched for the WireGuard
//    private key, the SSH key's id and public key), while saved ones are there.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { openIdbStore } from "../../worker/engine/idb-store.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { chromiumPrereq, launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { readCorridorDb } from "./idb-dump.ts";
import type { IdbOp, IdbReply } from "./pages/idb-store-worker.ts";
import { REPO_ROOT, type ServedPages, serveDirectory, servePages } from "./serve-pages.ts";

const TIMEOUT = 120_000;

it("openIdbStore refuses clearly where there is no IndexedDB (Node)", async () => {
  await expect(openIdbStore()).rejects.toThrow("IndexedDB is not available here");
});

describeWithPrereq(chromiumPrereq(), "the engine's IndexedDB store in a Worker", () => {
  let served: ServedPages | undefined;
  let browser: Browser | undefined;
  let page: Page;

  const call = (op: IdbOp): Promise<IdbReply> =>
    page.evaluate((o) => window.idbStoreE2E!.call(o), op);
  const ok = async (op: IdbOp): Promise<unknown> => {
    const reply = await call(op);
    if ("error" in reply) throw new Error(`${op.op}: ${reply.error}`);
    return reply.ok;
  };
  const open = async () => {
    await page.goto(`${served!.origin}idb-store.html`);
    await page.locator("#status", { hasText: "ready" }).waitFor();
  };

  beforeAll(async () => {
    served = await servePages("dev");
    browser = await launchChromium(TIMEOUT);
    page = await (await browser.newContext()).newPage();
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  }, TIMEOUT);

  it(
    "keeps records per kind, replaces by id, deletes, and survives a reload",
    async () => {
      await open();
      expect(await ok({ op: "persistent" })).toBe(true);
      expect(await ok({ op: "list", kind: "networks" })).toEqual([]);
      const network = { id: "n1", name: "lab", peers: [{ allowedIps: ["100.64.0.2/32"] }] };
      await ok({ op: "put", kind: "networks", value: network });
      await ok({ op: "put", kind: "sshKeys", value: { id: "k1", publicKey: "ssh-ed25519 AAAA" } });
      expect(await ok({ op: "list", kind: "networks" })).toEqual([network]);
      await ok({ op: "put", kind: "networks", value: { ...network, name: "renamed" } });
      await ok({ op: "put", kind: "networks", value: { id: "n0", name: "first" } });
      // getAll returns records in key order.
      expect(await ok({ op: "list", kind: "networks" })).toEqual([
        { id: "n0", name: "first" },
        { ...network, name: "renamed" },
      ]);
      await ok({ op: "delete", kind: "networks", id: "n1" });
      await ok({ op: "delete", kind: "networks", id: "never-there" });
      expect(await ok({ op: "list", kind: "networks" })).toEqual([{ id: "n0", name: "first" }]);
      expect(await call({ op: "putUnclonable", kind: "sshKeys", id: "bad" })).toEqual({
        error: expect.stringMatching(/^DataCloneError: /),
      });

      // A reload is a new Worker and a new connection: the records are still there.
      await open();
      expect(await ok({ op: "list", kind: "sshKeys" })).toEqual([
        { id: "k1", publicKey: "ssh-ed25519 AAAA" },
      ]);
      expect(await ok({ op: "list", kind: "networks" })).toEqual([{ id: "n0", name: "first" }]);
    },
    TIMEOUT,
  );
});

describeWithPrereq(chromiumPrereq(), "'Don't save' keeps private keys out of IndexedDB", () => {
  let tmp = "";
  let served: ServedPages | undefined;
  let browser: Browser | undefined;
  let page: Page;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "corridor-idb-"));
    await build({
      configFile: join(REPO_ROOT, "vite.config.ts"),
      logLevel: "warn",
      cacheDir: join(tmp, "vite-cache"),
      build: { outDir: join(tmp, "dist"), emptyOutDir: true },
    });
    served = await serveDirectory(join(tmp, "dist"));
    browser = await launchChromium(TIMEOUT);
    page = await (await browser.newContext()).newPage();
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await served?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }, TIMEOUT);

  const wgConfig = async (privateKey: Uint8Array) => {
    const peer = keyToBase64(await nodeX25519.publicKey(generatePrivateKey()));
    return `[Interface]\nPrivateKey = ${keyToBase64(privateKey)}\nAddress = 100.64.0.9/32\n\n[Peer]\nPublicKey = ${peer}\nAllowedIPs = 100.64.0.2/32\n`;
  };

  const importNetwork = async (name: string, privateKey: Uint8Array, tabOnly: boolean) => {
    await page.getByTestId("add-network").first().click();
    await page.getByTestId("config-name").fill(name);
    await page.getByTestId("config-text").fill(await wgConfig(privateKey));
    if (tabOnly) await page.getByTestId("config-tab-only").check();
    await page.getByTestId("import-submit").click();
    await page.getByTestId("network-item").filter({ hasText: name }).waitFor();
  };

  const generateKey = async (comment: string, tabOnly: boolean) => {
    await page.getByTestId("keys-button").click();
    await page.getByTestId("key-comment").fill(comment);
    if (tabOnly) await page.getByTestId("key-tab-only").check();
    await page.getByTestId("generate-key").click();
    const item = page.getByTestId("key-item").filter({ hasText: comment });
    await item.waitFor();
    const line = ((await item.getByTestId("authorized-key").textContent()) ?? "").trim();
    const id = (await item.getAttribute("data-id")) ?? "";
    await page.keyboard.press("Escape");
    return { line, id };
  };

  it(
    "stores the saved network and key, and nothing of the tab-only ones",
    async () => {
      await page.goto(served!.origin);
      await page.getByTestId("engine-status").filter({ hasText: "Engine ready" }).waitFor();
      const savedWg = generatePrivateKey();
      const tabWg = generatePrivateKey();
      await importNetwork("saved-net", savedWg, false);
      await importNetwork("tab-net", tabWg, true);
      const savedKey = await generateKey("saved-key", false);
      const tabKey = await generateKey("tab-key", true);
      expect(tabKey.line).toMatch(/^ssh-ed25519 AAAA\S+ tab-key$/);

      const stored = await readCorridorDb(page);
      const dump = JSON.stringify(stored);
      // The saved ones are there (the dump sees what the engine writes)...
      expect(stored.networks.map((n) => n.name)).toEqual(["saved-net"]);
      expect(dump).toContain(keyToBase64(savedWg));
      expect(stored.sshKeys.map((k) => k.id)).toEqual([savedKey.id]);
      // ...and nothing of the tab-only network or key, in any record.
      expect(dump).not.toContain(keyToBase64(tabWg));
      expect(dump).not.toContain(keyToBase64(tabWg).slice(0, 40));
      expect(dump).not.toContain("tab-net");
      expect(dump).not.toContain(tabKey.id);
      expect(dump).not.toContain(tabKey.line.split(" ")[1]!);

      // The unsaved ones live only in the engine's memory: a page with an engine of its own
      // (?engine=worker, the per-tab Worker) reads only what was stored and finds the saved
      // ones alone. (A reload keeps the browser's SharedWorker engine, with both.)
      await page.goto(`${served!.origin}?engine=worker`);
      await page.getByTestId("network-item").filter({ hasText: "saved-net" }).waitFor();
      expect(await page.getByTestId("network-item").filter({ hasText: "tab-net" }).count()).toBe(0);
      await page.getByTestId("keys-button").click();
      await page.getByTestId("key-item").filter({ hasText: "saved-key" }).waitFor();
      expect(await page.getByTestId("key-item").count()).toBe(1);
    },
    TIMEOUT,
  );
});
