// What the browser tests on the mesh lab share (mesh-page, mesh-reload, mesh-check): Chromium
// with one page, a screenshot when a test fails, the page's errors while it shows our origin, the terminal's state and text through window.corridorDebug, typing
// a command and waiting for the shell's answer, a person's browser nodes as the owner sees
// them, and the screenshots at 1280x800 and 390x844.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { expect, type TestContext } from "vitest";
import { launchChromium } from "../helpers/chromium.ts";
import { jsonUsers } from "../helpers/json.ts";
import type { LabNode, MeshLab } from "./mesh-lab.ts";
import { ARTIFACTS } from "./serve-pages.ts";

/** Where the e2e tests put their screenshots (serve-pages.ts's, named here for bench:web). */
export { ARTIFACTS };

/**
 * Collects the page's errors (uncaught, console.error) while it shows `origin`: the provider's
 * development pages load fonts from the internet this machine cannot reach, and their failures
 * are not the page's.
 */
export function collectOurProblems(page: Page, problems: string[], origin: string): void {
  const ours = () => new URL(page.url()).origin === origin;
  page.on("pageerror", (error) => {
    if (ours()) problems.push(`page error: ${error.message}`);
  });
  page.on("console", (message) => {
    if (message.type() === "error" && ours()) {
      problems.push(`console: ${message.text()} (${message.location().url})`);
    }
  });
}

/** Chromium and the one page a test drives. */
export interface MeshBrowser {
  browser: Browser;
  context: BrowserContext;
  page: Page;
}

/** Launches Chromium with one 1280x800 page whose errors on the lab's origin go to `problems`. */
export async function openMeshBrowser(lab: MeshLab, problems: string[]): Promise<MeshBrowser> {
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    collectOurProblems(page, problems, lab.origin);
    return { browser, context, page };
  } catch (error) {
    await browser.close();
    throw error;
  }
}

/**
 * For afterEach: when `test` failed, a screenshot of `page` as it was, to
 * ARTIFACTS/mesh-failed-TAG-NAME.png (NAME from the test's name); a page that cannot take one
 * any more is passed over, the failure itself says what went wrong.
 */
export async function shotOnFailure(
  test: TestContext,
  page: Page | undefined,
  tag: string,
): Promise<void> {
  if (test.task.result?.state !== "fail") return;
  const name = test.task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
  await page
    ?.screenshot({ path: `${ARTIFACTS}/mesh-failed-${tag}-${name}.png` })
    .catch(() => undefined);
}

/** The session state of tab `index` ("" before it exists). */
export const sessionState = (page: Page, index: number): Promise<string> =>
  page.evaluate((i) => window.corridorDebug?.sessionState(i) ?? "", index);

/** The terminal text of tab `index`, from xterm's buffer. */
export const terminalText = (page: Page, index: number): Promise<string> =>
  page.evaluate((i) => window.corridorDebug?.terminalText(i) ?? "", index);

/**
 * Clicks tab `index` and its terminal, types `echo WORD-$((6*7))` like a person and waits for the
 * shell's answer, the line "WORD-42" (the echo of the typing reads "WORD-$((6*7))").
 */
export async function echo42(page: Page, index: number, word = "mesh"): Promise<void> {
  // Its tab first, as a person would: a page route (hosts, a host) may be in front.
  await page.getByTestId("terminal-tab").nth(index).click();
  await page.getByTestId("terminal").nth(index).click();
  await page.keyboard.type(`echo ${word}-$((6*7))`);
  await page.keyboard.press("Enter");
  await expect
    .poll(() => terminalText(page, index), { timeout: 20_000 })
    .toMatch(new RegExp(`^${word}-42\\s*$`, "m"));
}

/** The owner's view of the nodes of the user with `email`. */
export async function nodesOf(lab: MeshLab, email: string): Promise<LabNode[]> {
  const users = await lab.admin("/api/v1/users");
  const user = jsonUsers(users.json).find((u) => u.email === email);
  if (user === undefined) return [];
  return (await lab.nodes()).filter((n) => n.userId === user.id);
}

/** Screenshots of what `page` shows at 1280x800 and 390x844: ARTIFACTS/mesh-NAME-WIDTH.png. */
export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `mesh-${name}-1280.png`) });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(ARTIFACTS, `mesh-${name}-390.png`) });
  await page.setViewportSize({ width: 1280, height: 800 });
}
