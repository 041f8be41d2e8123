// A host pinned with one key type, in a real browser (issue 12, item 2): the page trusts the
// ed25519 key of sshd inside a wireguard-go host, then that sshd is replaced by one that offers
// only ECDSA (what a man in the middle inside the tunnel would do to get an ordinary first-use
// prompt). The page must show the changed-key hard stop with both keys (type and fingerprint)
// and never the "first connection" dialog. Screenshots of the hard stop at 1280x800 and
// 390x844 go to build/e2e-artifacts/.

import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { ServeHandle } from "../../server/web/serve.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import type { WgHost } from "../interop/wg-host.ts";
import { type SshServer, sshdPrereq, startSshd } from "../ssh/fixtures/servers.ts";
import { REPO_ROOT } from "./serve-pages.ts";
import {
  buildPage,
  createLabHost,
  importLabNetwork,
  labPrereq,
  openLabPage,
  startLabServe,
} from "./wg-lab.ts";

const ARTIFACTS = join(REPO_ROOT, "build", "e2e-artifacts");
const need = labPrereq(sshdPrereq);

/** "SHA256:…" of an OpenSSH public key line, as OpenSSH's ssh-keygen prints it. */
function fingerprintOf(publicLine: string | undefined): string {
  if (publicLine === undefined) throw new Error("the server has no such host key");
  return execFileSync("ssh-keygen", ["-l", "-f", "-"], { input: publicLine })
    .toString()
    .split(" ")[1]!;
}

describeWithPrereq(need, "the page and a host key of another type than the trusted one", () => {
  let tmp = "";
  let host: WgHost;
  let sshd: SshServer | undefined;
  let serve: ServeHandle;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    tmp = await mkdtemp(join(tmpdir(), "corridor-e2e-keytype-"));
    const webRoot = await buildPage(tmp);
    const privateKey = generatePrivateKey();
    host = await createLabHost(privateKey);
    serve = await startLabServe(host, webRoot, "e2e-keytype");
    browser = await launchChromium();
    page = await openLabPage(browser, problems);
    await importLabNetwork(page, serve.url, "keytype", privateKey, host);
    await page.getByTestId("network-item").filter({ hasText: "keytype" }).click();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await serve?.close();
    await sshd?.stop();
    await host?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }, 60_000);

  const startSession = async () => {
    const hostItem = page.locator(
      `[data-testid="host-item"][data-address="${host.tunnelAddress}"]`,
    );
    await hostItem.getByTestId("ssh-button").click();
    await page.getByTestId("ssh-user").fill("someone");
    await page.getByTestId("ssh-port").fill("22");
    await page.getByTestId("ssh-connect").click();
  };

  it("refuses an ECDSA-only server for a host trusted with ed25519, showing both keys", async () => {
    // First contact: sshd with all its keys presents ed25519; the person trusts it.
    sshd = await startSshd({ netns: host.namespace, listen: host.tunnelAddress, port: 22 });
    const trusted = fingerprintOf(sshd.hostKeys.get("ssh-ed25519"));
    await startSession();
    await page.getByTestId("hostkey-dialog").waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("hostkey-fingerprint").textContent()).toBe(trusted);
    expect(await page.getByTestId("hostkey-dialog").textContent()).toContain(
      "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub",
    );
    await page.getByTestId("hostkey-trust").click();
    // The key is stored once trusted; the login itself is not needed here.
    await page.getByTestId("password-input").waitFor();
    await page.getByTestId("dialog-cancel").click();
    await page.getByTestId("session-closed").last().waitFor();

    // The server is replaced by one offering only ECDSA.
    await sshd.stop();
    sshd = await startSshd({
      netns: host.namespace,
      listen: host.tunnelAddress,
      port: 22,
      hostKeyTypes: ["ecdsa"],
    });
    const presented = fingerprintOf(sshd.hostKeys.get("ecdsa-sha2-nistp256"));
    await startSession();
    const warning = page.getByTestId("hostkey-warning").last();
    await warning.waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("hostkey-dialog").count()).toBe(0);
    expect(await warning.locator("dt").allTextContents()).toEqual([
      "Trusted key (ssh-ed25519)",
      "Key now presented (ecdsa-sha2-nistp256)",
    ]);
    expect(await warning.getByTestId("hostkey-warning-fingerprint").allTextContents()).toEqual([
      trusted,
      presented,
    ]);
    expect(await warning.textContent()).toContain("HAS CHANGED");
    await page.screenshot({ path: join(ARTIFACTS, "host-key-type-1280.png") });
    await page.setViewportSize({ width: 390, height: 844 });
    // On a phone the network list is a drawer over the session: close it, as a person would.
    if ((await page.locator(".app").getAttribute("data-sidebar")) === "open")
      await page.getByTestId("menu-toggle").click();
    await warning.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, "host-key-type-390.png") });
    await page.setViewportSize({ width: 1280, height: 800 });

    // A real change of key type (a reinstall): the person forgets the trusted key, and the next
    // connection asks about the ECDSA key, naming the file to check it against.
    await warning.getByTestId("forget-host-key").click();
    await page.getByTestId("forget-dialog").getByTestId("dialog-submit").click();
    await page.getByTestId("hostkey-dialog").waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("hostkey-fingerprint").textContent()).toBe(presented);
    expect(await page.getByTestId("hostkey-dialog").textContent()).toContain(
      "ssh-keygen -lf /etc/ssh/ssh_host_ecdsa_key.pub",
    );
    expect(problems).toEqual([]);
  }, 120_000);
});
