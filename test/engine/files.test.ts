// The engine's files calls (worker/engine/files.ts) against OpenSSH's sftp-server behind sshd in
// a wireguard-go host's namespace, reached through the relay as the page reaches it: SFTP runs
// on the terminal session's own connection. Listing, upload and download of 8 MiB with sha-256
// on both sides, rename, mkdir, recursive remove, errors that name the path and the cause
// (no such file, permission denied), the send window (no acks → the engine stops), and cancel
// both ways: a cancelled upload leaves neither the file nor its temporary name, a cancelled
// download ends with "cancel", never "done".

import { createHash, randomBytes } from "node:crypto";
import {
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  type EngineApi,
  type SessionUi,
  TRANSFER_WINDOW,
  type TransferMessage,
} from "../../worker/api.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import type { WgHost } from "../interop/wg-host.ts";
import { type SshServer, TEST_PASSWORD, TEST_USER } from "../ssh/fixtures/servers.ts";
import { closeEngineLab, type EngineLab, engineLabPrereq, startEngineLab } from "./engine-lab.ts";

const need = engineLabPrereq();

const MiB = 1024 * 1024;
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/** The page's end of a transfer port: records messages, acks downloads unless told not to. */
class PageEnd {
  readonly channel = new MessageChannel();
  readonly messages: TransferMessage[] = [];
  readonly chunks: Uint8Array[] = [];
  received = 0;
  acked = 0;
  holdAcks = false;

  constructor() {
    this.channel.port1.onmessage = (event: MessageEvent<TransferMessage>) => {
      const m = event.data;
      this.messages.push(m.type === "data" ? { type: "data", data: new Uint8Array(0) } : m);
      if (m.type === "data") {
        this.chunks.push(m.data);
        this.received += m.data.length;
        if (!this.holdAcks) this.ack(m.data.length);
      } else if (m.type === "ack") {
        this.acked += m.bytes;
      }
    };
  }

  ack(bytes: number): void {
    this.channel.port1.postMessage({ type: "ack", bytes } satisfies TransferMessage);
  }

  send(message: TransferMessage): void {
    this.channel.port1.postMessage(message);
  }

  /** The last message other than data/ack, once there is one. */
  async final(): Promise<TransferMessage> {
    const last = () =>
      this.messages.find((m) => m.type === "done" || m.type === "error" || m.type === "cancel");
    await waitUntil(() => last() !== undefined, "the transfer's end", { hangAfterMs: 60_000 });
    return last()!;
  }

  bytes(): Uint8Array {
    return Buffer.concat(this.chunks);
  }

  close(): void {
    this.channel.port1.close();
  }
}

/** Sends `data` as an upload in 1 MiB chunks within the window, then "end". */
async function sendUpload(page: PageEnd, data: Uint8Array, stopAt = data.length): Promise<void> {
  let sent = 0;
  while (sent < stopAt) {
    await waitUntil(() => sent - page.acked < TRANSFER_WINDOW, "room in the upload window");
    const chunk = data.slice(sent, Math.min(stopAt, sent + MiB));
    sent += chunk.length; // before the transfer detaches it
    page.channel.port1.postMessage({ type: "data", data: chunk }, [chunk.buffer]);
  }
  if (stopAt === data.length) page.send({ type: "end" });
}

describeWithPrereq(need, "engine files over SFTP on a session's connection", () => {
  let host: WgHost;
  let sshd: SshServer;
  let relay: EngineLab["relay"];
  let engine: EngineApi;
  let sessionId: string;
  let home: string;
  let owner: { uid: number; gid: number };

  beforeAll(async () => {
    const lab = await startEngineLab("files-test");
    ({ host, sshd, relay, engine } = lab);
    const network = lab.network;
    home = sshd.home;
    const st = statSync(home);
    owner = { uid: st.uid, gid: st.gid };
    const ui: SessionUi = {
      onState: () => undefined,
      confirmHostKey: async () => true,
      askPassword: async () => TEST_PASSWORD,
      askInteractive: async (_n, _i, p) => p.map(() => TEST_PASSWORD),
      onBanner: () => undefined,
    };
    const terminal = new MessageChannel();
    terminal.port1.onmessage = (event: MessageEvent<TransferMessage>) => {
      const m = event.data as unknown as { type: string; data?: Uint8Array };
      if (m.type === "output") terminal.port1.postMessage({ type: "ack", bytes: m.data!.length });
    };
    sessionId = await engine.openSession(
      {
        networkId: network.id,
        host: host.tunnelAddress,
        port: 22,
        username: TEST_USER,
        keyIds: [],
        cols: 80,
        rows: 24,
      },
      ui,
      terminal.port2,
    );
  }, 60_000);

  afterAll(async () => {
    if (sessionId) await engine.closeSession(sessionId);
    await closeEngineLab({ relay, sshd, host });
  });

  const leftovers = (dir: string) => readdirSync(dir).filter((n) => n.includes("corridor-part"));

  it("lists the login directory, directories first, with sizes and types", async () => {
    writeFileSync(join(home, "b.txt"), "hello");
    mkdirSync(join(home, "a-dir"));
    chownSync(join(home, "a-dir"), owner.uid, owner.gid);
    const listing = await engine.listFiles(sessionId, "");
    expect(listing.path).toBe(home);
    const names = listing.entries.map((e) => [e.name, e.type]);
    expect(names.indexOf(names.find(([n]) => n === "a-dir")!)).toBeLessThan(
      names.indexOf(names.find(([n]) => n === "b.txt")!),
    );
    expect(listing.entries.find((e) => e.name === "b.txt")).toMatchObject({
      path: join(home, "b.txt"),
      type: "file",
      size: 5,
      symlink: false,
    });
    expect((await engine.statFile(sessionId, join(home, "a-dir"))).type).toBe("dir");
  }, 30_000);

  it("uploads and downloads 8 MiB with sha-256 equal on both sides", async () => {
    const data = new Uint8Array(randomBytes(8 * MiB));
    const target = join(home, "up.bin");
    const page = new PageEnd();
    const progress: number[] = [];
    const started = await engine.upload(sessionId, target, data.length, page.channel.port2, {
      onProgress: (bytes) => void progress.push(bytes),
    });
    expect(started.size).toBe(data.length);
    await sendUpload(page, data);
    expect(await page.final()).toEqual({ type: "done", bytes: data.length });
    expect(sha256(readFileSync(target))).toBe(sha256(data));
    expect(progress.at(-1)).toBe(data.length);
    expect(leftovers(home)).toEqual([]);

    const down = new PageEnd();
    const info = await engine.download(sessionId, target, down.channel.port2);
    expect(info.size).toBe(data.length);
    expect(await down.final()).toEqual({ type: "done", bytes: data.length });
    expect(sha256(down.bytes())).toBe(sha256(data));
    page.close();
    down.close();
  }, 60_000);

  it("renames, makes a directory and removes a tree", async () => {
    writeFileSync(join(home, "r1.txt"), "r");
    await engine.renameFile(sessionId, join(home, "r1.txt"), join(home, "r2.txt"));
    expect(existsSync(join(home, "r2.txt"))).toBe(true);
    await engine.makeDir(sessionId, join(home, "tree"));
    await engine.makeDir(sessionId, join(home, "tree/sub"));
    const page = new PageEnd();
    await engine.upload(sessionId, join(home, "tree/sub/f"), 3, page.channel.port2);
    await sendUpload(page, new Uint8Array([1, 2, 3]));
    expect((await page.final()).type).toBe("done");
    await engine.removeFile(sessionId, join(home, "tree"));
    expect(existsSync(join(home, "tree"))).toBe(false);
    await engine.removeFile(sessionId, join(home, "r2.txt"));
    expect(existsSync(join(home, "r2.txt"))).toBe(false);
    page.close();
  }, 30_000);

  it("names the path and the cause of errors", async () => {
    await expect(engine.listFiles(sessionId, "/nope-corridor")).rejects.toThrow(
      /\/nope-corridor: No such file/,
    );
    await expect(
      engine.download(sessionId, join(home, "missing.bin"), new MessageChannel().port2),
    ).rejects.toThrow(/missing\.bin: No such file/);
    // The home belongs to the test user; a directory of root's 0755 is not writable for it.
    const locked = join(home, "locked");
    mkdirSync(locked, { mode: 0o755 });
    await expect(
      engine.upload(sessionId, join(locked, "x"), 1, new MessageChannel().port2),
    ).rejects.toThrow(/Permission denied/);
    await expect(engine.makeDir(sessionId, join(locked, "d"))).rejects.toThrow(/Permission denied/);
    await expect(engine.download(sessionId, locked, new MessageChannel().port2)).rejects.toThrow(
      /is a directory/,
    );
    await expect(engine.listFiles("no-such-session", "")).rejects.toThrow(/no open SSH session/);
  }, 30_000);

  it("stops sending a download at the window until the page acks", async () => {
    const file = join(home, "window.bin");
    writeFileSync(file, randomBytes(16 * MiB));
    const page = new PageEnd();
    page.holdAcks = true;
    const { id } = await engine.download(sessionId, file, page.channel.port2);
    await waitUntil(() => page.received >= TRANSFER_WINDOW, "a full window");
    // Round trips through the same session give anything past the window time to arrive.
    for (let i = 0; i < 3; i++) await engine.statFile(sessionId, file);
    expect(page.received).toBeLessThanOrEqual(TRANSFER_WINDOW + 256 * 1024);
    // Cancelled from the engine's side: it ends with "cancel", never "done".
    await engine.cancelTransfer(id);
    expect((await page.final()).type).toBe("cancel");
    expect(page.messages.some((m) => m.type === "done")).toBe(false);
    page.close();
  }, 30_000);

  it("a cancelled upload leaves no file under its name nor its temporary name", async () => {
    const data = new Uint8Array(randomBytes(8 * MiB));
    for (const how of ["page", "engine"] as const) {
      const target = join(home, `cancel-${how}.bin`);
      const page = new PageEnd();
      const { id } = await engine.upload(sessionId, target, data.length, page.channel.port2);
      await sendUpload(page, data, 3 * MiB);
      await waitUntil(() => page.acked >= 2 * MiB, "part of the upload stored");
      expect(leftovers(home).length).toBe(1);
      if (how === "page") page.send({ type: "cancel", reason: "the person cancelled" });
      else await engine.cancelTransfer(id);
      const final = await page.final();
      expect(final.type).toBe("cancel");
      expect(existsSync(target)).toBe(false);
      await waitUntil(() => leftovers(home).length === 0, "the temporary file removed");
      page.close();
    }
  }, 60_000);
});
