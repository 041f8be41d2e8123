// bench:web (e): SFTP through the page's files panel (issue 15 item 5) against OpenSSH's `sftp`
// over the same tunnel. The page: a file downloaded with the panel's Download (engine → the
// download service worker → Chromium's download manager, timed from the click to the file on
// disk) and uploaded with the panel's file input (read in 1 MiB slices, timed from picking it to
// "Done", which is after the rename on the host). The anchor: OpenSSH's sftp (-R 64 -B 32768,
// the same pipeline as ours) through `corridor nc --wg-config` as its ProxyCommand, i.e. the
// same relay, the same wireguard-go host and sshd, with a WireGuard key of its own (a second
// peer of the host), its connection setup measured apart (a batch of `pwd`) and subtracted.
// Rounds interleave the two; medians. Long tasks (> 50 ms) on the page's main thread during
// the transfers are counted. Targets: >= 0.5x OpenSSH both ways, no long task over 200 ms.

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { ourWgConfigText } from "../interop/our-wg-config.ts";
import type { WgHost } from "../interop/wg-host.ts";
import { ensureTestUser, TEST_USER } from "../ssh/fixtures/servers.ts";
import { cpuShare, cpuSnapshot } from "./cpu-share.ts";
import { formatRatio, printTable, timeScale } from "./harness.ts";

/** What benchWebFiles needs from web.bench.ts. */
export interface FilesBenchOptions {
  /** The bench's context (network, host key and SSH key in IndexedDB). */
  context: BrowserContext;
  /** The page's deep link to the shell. */
  deepLink: string;
  /** Confirms the deep link's dialog. */
  confirm(page: Page): Promise<void>;
  tmp: string;
  rounds: number;
  host: WgHost;
  /** The test user's home on the host's sshd (the files land there). */
  home: string;
  /** The relay's WebSocket URL (the anchor's `corridor nc --relay`). */
  relayUrl: string;
}

const REPO = new URL("../../", import.meta.url).pathname;
const MiB = 1024 * 1024;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

function run(cmd: string, args: string[]): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("close", (code) => {
      if (code === 0) resolve(performance.now() - start);
      else reject(new Error(`${cmd} exited ${code}: ${err.slice(-800)}`));
    });
  });
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Runs the files benchmark, prints its table, returns the target rows for "Targets". */
export async function benchWebFiles(o: FilesBenchOptions): Promise<string[][]> {
  const size = Math.max(16 * MiB, Math.round((128 * MiB * timeScale) / MiB) * MiB);
  const local = join(o.tmp, "files-bench.bin");
  const fd = openSync(local, "w");
  for (let done = 0; done < size; done += 16 * MiB) writeSync(fd, randomBytes(16 * MiB));
  closeSync(fd);
  const digest = sha256(local);
  writeFileSync(join(o.home, "bench-down.bin"), readFileSync(local));
  const owner = statSync(o.home);
  const { chownSync } = await import("node:fs");
  chownSync(join(o.home, "bench-down.bin"), owner.uid, owner.gid);

  // The anchor's own WireGuard key, a second peer of the host, and its SSH key.
  const nodeKey = generatePrivateKey();
  await o.host.setPeer({
    publicKey: keyToBase64(await nodeX25519.publicKey(nodeKey)),
    allowedIps: "100.64.0.3/32",
  });
  const wgFile = join(o.tmp, "files-anchor.conf");
  writeFileSync(
    wgFile,
    ourWgConfigText(nodeKey, o.host, `${o.host.tunnelAddress}/32`).replace(
      "Address = 100.64.0.1/32",
      "Address = 100.64.0.3/32",
    ),
    { mode: 0o600 },
  );
  const idFile = join(o.tmp, "files-anchor-id");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", idFile]);
  ensureTestUser([readFileSync(`${idFile}.pub`, "utf8")]);
  const proxy = `${process.execPath} ${join(REPO, "cli/corridor.mjs")} nc --wg-config ${wgFile} --relay ${o.relayUrl} %h %p`;
  const sftp = (batch: string) => {
    const file = join(o.tmp, "files-anchor.batch");
    writeFileSync(file, batch);
    return run("sftp", [
      "-q",
      "-b",
      file,
      "-i",
      idFile,
      "-o",
      `ProxyCommand=${proxy}`,
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "LogLevel=ERROR",
      `${TEST_USER}@${o.host.tunnelAddress}`,
    ]);
  };
  const anchorDown = join(o.tmp, "files-anchor-down.bin");

  // The page: a connected session, its files panel on the home directory.
  const page = await o.context.newPage();
  await page.addInitScript(() => {
    // Downloads through the service worker (no save picker a bench could answer).
    delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker;
    const w = window as unknown as { longTasks: number[] };
    w.longTasks = [];
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) w.longTasks.push(entry.duration);
    }).observe({ type: "longtask" });
  });
  await page.goto(o.deepLink);
  await o.confirm(page);
  await page.waitForFunction(
    () => {
      const all = [...document.querySelectorAll<HTMLElement>('[data-testid="terminal-panel"]')];
      const shown = all.find((el) => el.offsetParent !== null);
      return shown?.querySelector('[data-testid="session-state"]')?.getAttribute("data-state") ===
        "connected"
        ? true
        : undefined;
    },
    undefined,
    { polling: 50, timeout: 60_000 },
  );
  const panel = page.locator('[data-testid="files-panel"]:visible');
  await page.locator('[data-testid="files-button"]:visible').click();
  const row = panel.locator('[data-testid="file-row"][data-name="bench-down.bin"]');
  await row.waitFor({ timeout: 30_000 });
  const longTasks = () =>
    page.evaluate(() => (window as unknown as { longTasks: number[] }).longTasks.splice(0));

  const pageDown: number[] = [];
  const pageUp: number[] = [];
  const sshDown: number[] = [];
  const sshUp: number[] = [];
  const tasks: number[] = [];
  /** Where the CPU went in each page download (printed for the median one). */
  const cpuDown: { ms: number; line: string }[] = [];
  /** The same for each anchor download (same relay and host: what differs is the client). */
  const cpuAnchor: { ms: number; line: string }[] = [];
  try {
    const setup = median([await sftp("pwd\n"), await sftp("pwd\n"), await sftp("pwd\n")]);
    for (let round = 0; round < o.rounds; round++) {
      await longTasks();
      const cpuBefore = cpuSnapshot();
      const start = performance.now();
      const [download] = await Promise.all([
        page.waitForEvent("download", { timeout: 120_000 }),
        row.getByTestId("file-download").click(),
      ]);
      const saved = await download.path();
      pageDown.push(performance.now() - start);
      cpuDown.push({
        ms: pageDown.at(-1)!,
        line: cpuShare(cpuBefore, cpuSnapshot(), pageDown.at(-1)!),
      });
      if (sha256(saved) !== digest) throw new Error("the page's download differs from the file");
      await download.delete();
      tasks.push(...(await longTasks()));

      const anchorBefore = cpuSnapshot();
      const anchorStart = performance.now();
      sshDown.push((await sftp(`get bench-down.bin ${anchorDown}\n`)) - setup);
      const anchorMs = performance.now() - anchorStart;
      cpuAnchor.push({ ms: anchorMs, line: cpuShare(anchorBefore, cpuSnapshot(), anchorMs) });
      if (sha256(anchorDown) !== digest) throw new Error("sftp's download differs from the file");
      rmSync(anchorDown);

      // Picked by path, as a person's file: the browser reads it from disk in slices.
      const name = "files-bench.bin";
      const upStart = performance.now();
      await panel.getByTestId("files-upload-input").setInputFiles(local);
      const transfer = panel.getByTestId("transfer").first();
      await page.waitForFunction(
        () =>
          document
            .querySelector('[data-testid="files-transfers"] [data-testid="transfer"]')
            ?.getAttribute("data-state") !== "running"
            ? true
            : undefined,
        undefined,
        { polling: 20, timeout: 300_000 },
      );
      pageUp.push(performance.now() - upStart);
      if ((await transfer.getAttribute("data-state")) !== "done") {
        throw new Error(`the page's upload ended ${await transfer.textContent()}`);
      }
      tasks.push(...(await longTasks()));
      if (sha256(join(o.home, name)) !== digest) throw new Error("the page's upload differs");
      rmSync(join(o.home, name));

      sshUp.push((await sftp(`put ${local} bench-up-ssh.bin\n`)) - setup);
      rmSync(join(o.home, "bench-up-ssh.bin"));
    }
  } finally {
    await page.close();
    await o.host.removePeer(keyToBase64(await nodeX25519.publicKey(nodeKey))).catch(() => {});
    rmSync(join(o.home, "bench-down.bin"), { force: true });
  }
  const rate = (ms: number) => size / MiB / (ms / 1000);
  const down = rate(median(pageDown));
  const up = rate(median(pageUp));
  const anchorDownRate = rate(median(sshDown));
  const anchorUpRate = rate(median(sshUp));
  const longest = Math.max(0, ...tasks);
  printTable(
    `SFTP, ${size / MiB} MiB each way through the relay and wireguard-go (median of ${o.rounds})`,
    ["client", "download MiB/s", "ratio", "upload MiB/s", "ratio"],
    [
      [
        "OpenSSH sftp via corridor nc (anchor)",
        anchorDownRate.toFixed(1),
        "1.00x",
        anchorUpRate.toFixed(1),
        "1.00x",
      ],
      [
        "the page's files panel in Chromium",
        down.toFixed(1),
        formatRatio(down / anchorDownRate),
        up.toFixed(1),
        formatRatio(up / anchorUpRate),
      ],
    ],
    ["left", "right", "right", "right", "right"],
  );
  const medianDown = [...cpuDown].sort((a, b) => a.ms - b.ms)[cpuDown.length >> 1];
  const medianAnchor = [...cpuAnchor].sort((a, b) => a.ms - b.ms)[cpuAnchor.length >> 1];
  if (medianAnchor !== undefined) {
    console.log(`CPU in the median anchor download (percent of one core): ${medianAnchor.line}`);
  }
  if (medianDown !== undefined) {
    console.log(`CPU in the median page download (percent of one core): ${medianDown.line}`);
  }
  const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");
  return [
    [
      "SFTP download in the page vs OpenSSH sftp",
      formatRatio(down / anchorDownRate),
      ">= 0.50x",
      verdict(down / anchorDownRate >= 0.5),
    ],
    [
      "SFTP upload in the page vs OpenSSH sftp",
      formatRatio(up / anchorUpRate),
      ">= 0.50x",
      verdict(up / anchorUpRate >= 0.5),
    ],
    [
      `longest main-thread task during the transfers (${tasks.length} long tasks)`,
      `${longest.toFixed(0)} ms`,
      "<= 200 ms",
      verdict(longest <= 200),
    ],
  ];
}
