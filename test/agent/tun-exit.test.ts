// A TUN interface does not outlive its agent when the process ends without close(): a child
// process brings one up (wireguard-go, in a namespace the test made) with its nftables
// filter, then dies of an uncaught exception; its exit hooks delete the interface and the
// table, and wireguard-go is gone with the interface.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { check, describeWithPrereq, prereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import { wgHostPrereq } from "../interop/wg-host.ts";
import { killAndWait, wgGenKey } from "../interop/wg-tools.ts";
import { createTunNetns, type TunNetns } from "./tun-netns.ts";

const need = prereq(...wgHostPrereq().missing.map((what) => check(what, false)));
const root = new URL("../../", import.meta.url).pathname;

describeWithPrereq(need, "TUN interface at process exit", () => {
  let ns: TunNetns;
  let dir = "";

  beforeAll(async () => {
    ns = await createTunNetns();
    dir = mkdtempSync(join(tmpdir(), "corridor-tun-exit-"));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await ns.close();
  });

  it("an agent that dies without close() leaves no interface, filter table or wireguard-go", async () => {
    const script = join(dir, "child.mts"); // .mts: ESM outside the package (top-level await)
    writeFileSync(
      script,
      [
        `import { hostCommands } from ${JSON.stringify(`${root}server/agent/tun/exec.ts`)};`,
        `import { WgInterface } from ${JSON.stringify(`${root}server/agent/tun/wg-interface.ts`)};`,
        `import { createLogger } from ${JSON.stringify(`${root}server/log.ts`)};`,
        "const [iface, netns, privateKey] = process.argv.slice(2);",
        `import { InterfaceFilter } from ${JSON.stringify(`${root}server/agent/tun/nft-filter.ts`)};`,
        "const commands = hostCommands({ netns });",
        "const log = createLogger({ level: 'silent' });",
        "await WgInterface.create({ iface, privateKey, implementation: 'wireguard-go', commands, log });",
        "await new InterfaceFilter(commands, iface, log).apply({ peers: [], filter: [] });",
        "process.stdout.write('up\\n');",
        "setTimeout(() => { throw new Error('the agent crashes'); }, 10);",
        "",
      ].join("\n"),
    );
    const { privateKey } = await wgGenKey();
    const child = spawn(
      process.execPath,
      ["--import", "tsx", script, ns.iface, ns.namespace, privateKey],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    try {
      const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
      expect(out, err).toBe("up\n");
      expect(code).not.toBe(0);
      expect(err).toContain("the agent crashes");
      expect((await ns.exec(["ip", "link", "show", "dev", ns.iface])).code).not.toBe(0);
      const table = await ns.exec(["nft", "list", "table", "inet", `corridor_${ns.iface}`]);
      expect(table.code, table.stdout).not.toBe(0);
      let running = "?";
      await waitUntil(() => running === "", "wireguard-go gone", {
        everyMs: 50,
        poll: async () => {
          running = (await ns.exec(["pgrep", "-f", `wireguard-go -f ${ns.iface}`])).stdout.trim();
        },
      });
    } finally {
      await killAndWait(child);
    }
  }, 60_000);
});
