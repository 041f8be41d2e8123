// Debian's Chromium driven by playwright-core, as DESIGN.md §5 prescribes: never a downloaded
// browser. The flags keep it from reaching for the network this machine does not have.

import { type Browser, chromium } from "playwright-core";
import { executable, type Prereq, prereq } from "./prereq.ts";

export const CHROMIUM = "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
  "--disable-dev-shm-usage",
];

/** The prerequisite of every browser test. */
export function chromiumPrereq(): Prereq {
  return prereq(executable(CHROMIUM));
}

/** Launches headless Chromium (with `extraArgs` after ours); the caller closes it. */
export function launchChromium(timeout = 120_000, extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    timeout,
  });
}
