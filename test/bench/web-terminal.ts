// bench:web (d): terminal output in Chromium (issue 15 item 12). The page's real path: a
// command on sshd behind wireguard-go prints base64 (`head -c N /dev/urandom | base64 -w 256`,
// all of it: no tail on the host) through the SSH channel, WireGuard in the Worker, the relay
// and the MessagePort into xterm; the time runs from Enter until the shell's closing OSC title
// reaches the page. The anchor, in the same browser: the same number of bytes of base64 lines
// written straight into the page's own xterm (test/e2e/pages/terminal-renderer-page.ts, no
// engine, no network). Both renderers (forced in Settings; headless WebGL is SwiftShader),
// rounds interleaved, medians. Target: the page >= 0.8x the best renderer's anchor.

import type { BrowserContext, Page } from "playwright-core";
import { serveRendererPage } from "../e2e/renderer-lab.ts";
import { type CpuSnapshot, cpuShare, cpuSnapshot } from "./cpu-share.ts";
import { formatRatio, printTable } from "./harness.ts";

export interface TerminalBenchOptions {
  /** The context holding the network, the host key and the chosen SSH key (IndexedDB). */
  context: BrowserContext;
  /** The page's deep link to the shell, e.g. http://127.0.0.1:PORT/#/ssh/USER@HOST. */
  deepLink: string;
  /** Confirms the deep link's dialog (the bench's openLink). */
  confirm(page: Page): Promise<void>;
  tmp: string;
  rounds: number;
  /** Random bytes base64-encoded on the host (the output is 4/3 of it plus CRLFs). */
  randomBytes: number;
}

type Renderer = "dom" | "webgl";
const RENDERERS: Renderer[] = ["dom", "webgl"];
const LINE = 256;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** Bytes the terminal receives for `randomBytes` through `base64 -w 256` and a pty (CRLF). */
export function base64OutputBytes(randomBytes: number): number {
  const chars = 4 * Math.ceil(randomBytes / 3);
  return chars + 2 * Math.ceil(chars / LINE);
}

async function waitFor<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`terminal bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The index of the visible terminal tab (the one a deep link just opened: with a shared engine
 * a new page also re-attaches the sessions other pages left open), once there is one.
 */
export async function activeTab(page: Page): Promise<number> {
  const handle = await page
    .waitForFunction(
      () => {
        const all = [...document.querySelectorAll<HTMLElement>('[data-testid="terminal"]')];
        // 1-based: waitForFunction waits for a truthy value.
        return all.findIndex((el) => el.checkVisibility()) + 1;
      },
      undefined,
      { polling: 50, timeout: 60_000 },
    )
    .catch(async (error: unknown) => {
      // What the page showed instead, for whoever reads the failure.
      await page.screenshot({ path: "build/e2e-artifacts/bench-web-no-terminal.png" });
      throw error;
    });
  return ((await handle.jsonValue()) as number) - 1;
}

/** Prints the table; returns the Targets rows. */
export async function terminalThroughput(options: TerminalBenchOptions): Promise<string[][]> {
  const { context, rounds } = options;
  const total = base64OutputBytes(options.randomBytes);
  const lab = await serveRendererPage(options.tmp);

  /** Where the CPU went in each run, by key; printed for the median runs. */
  const cpu: Record<string, { ms: number; line: string }[]> = {};
  const noteCpu = (key: string, before: CpuSnapshot, ms: number) => {
    cpu[key] = [...(cpu[key] ?? []), { ms, line: cpuShare(before, cpuSnapshot(), ms) }];
  };

  async function anchor(renderer: Renderer): Promise<number> {
    const page = await context.newPage();
    try {
      await page.goto(lab.url);
      await page.waitForFunction(() => window.rendererLab !== undefined);
      await page.evaluate((r) => window.rendererLab!.open(r), renderer);
      await waitFor(
        `the anchor's ${renderer} renderer`,
        () => page.evaluate(() => window.rendererLab!.state().renderer),
        (r) => r === renderer,
      );
      const before = cpuSnapshot();
      const ms = await page.evaluate(
        ([bytes, line]) => window.rendererLab!.write(bytes, 16_384, line),
        [total, LINE] as const,
      );
      noteCpu(`anchor-${renderer}`, before, ms);
      return ms;
    } finally {
      await page.close();
    }
  }

  async function throughPage(renderer: Renderer): Promise<number> {
    const page = await context.newPage();
    try {
      await page.addInitScript((r) => {
        const key = "corridor.settings";
        const saved = JSON.parse(localStorage.getItem(key) ?? "{}") as Record<string, unknown>;
        localStorage.setItem(key, JSON.stringify({ ...saved, renderer: r }));
      }, renderer);
      await page.goto(options.deepLink);
      await options.confirm(page);
      const tab = await activeTab(page);
      const text = () => page.evaluate((i) => window.corridorDebug?.terminalText(i) ?? "", tab);
      await waitFor("the shell prompt", text, (t) => /\$ $/.test(t));
      await waitFor(
        `the page's ${renderer} renderer`,
        () => page.evaluate((i) => window.corridorDebug?.renderer(i) ?? "", tab),
        (r) => r === renderer,
      );
      await page.getByTestId("terminal").nth(tab).click();
      const title = page.getByTestId("remote-title").nth(tab);
      const before = cpuSnapshot();
      const start = performance.now();
      await page.keyboard.type(
        `head -c ${options.randomBytes} /dev/urandom | base64 -w ${LINE}; printf '\\033]0;tput-%d\\007' $((6*7))\n`,
      );
      await page.waitForFunction(
        (el) => el?.textContent === "tput-42",
        await title.elementHandle(),
        { polling: 50, timeout: 300_000 },
      );
      const ms = performance.now() - start;
      noteCpu(`page-${renderer}`, before, ms);
      // End the shell, so a shared engine does not keep the session for the next page.
      await page.keyboard.type("exit\n");
      return ms;
    } finally {
      await page.close();
    }
  }

  const ms: Record<string, number[]> = {};
  const add = (key: string, value: number) => {
    ms[key] = [...(ms[key] ?? []), value];
  };
  try {
    for (let round = 0; round < rounds; round++) {
      // Alternate which goes first, so a neighbour's load does not always hit the same one.
      const order = round % 2 === 0 ? RENDERERS : [...RENDERERS].reverse();
      for (const renderer of order) {
        add(`anchor-${renderer}`, await anchor(renderer));
        add(`page-${renderer}`, await throughPage(renderer));
      }
    }
  } finally {
    await lab.close();
  }
  const rate = (key: string) => total / 1e6 / (median(ms[key]!) / 1000);
  const best = Math.max(...RENDERERS.map((r) => rate(`anchor-${r}`)));
  const name = { dom: "DOM", webgl: "WebGL (SwiftShader here)" };
  const rows: string[][] = [];
  for (const r of RENDERERS) {
    rows.push([`xterm, no network (anchor), ${name[r]}`, rate(`anchor-${r}`).toFixed(2), "-"]);
    rows.push([
      `the page through the relay and WireGuard, ${name[r]}`,
      rate(`page-${r}`).toFixed(2),
      formatRatio(rate(`page-${r}`) / rate(`anchor-${r}`)),
    ]);
  }
  printTable(
    `Terminal output: ${(total / 1e6).toFixed(1)} MB of base64 lines into xterm in headless Chromium (median of ${rounds})`,
    ["path", "MB/s", "vs its renderer's anchor"],
    rows,
    ["left", "right", "right"],
  );
  console.log("CPU in the median run of each (percent of one core; the machine has the host's");
  console.log("sshd, wireguard-go and the relay on the same cores as the browser):");
  for (const [key, runs] of Object.entries(cpu)) {
    console.log(`  ${key}: ${[...runs].sort((a, b) => a.ms - b.ms)[runs.length >> 1]!.line}`);
  }
  const page = Math.max(...RENDERERS.map((r) => rate(`page-${r}`)));
  const ratio = page / best;
  return [
    [
      "terminal output, the page's best renderer vs the best anchor",
      `${formatRatio(ratio)} (${page.toFixed(2)} of ${best.toFixed(2)} MB/s)`,
      ">= 0.80x",
      ratio >= 0.8 ? "PASS" : "MISS",
    ],
  ];
}
