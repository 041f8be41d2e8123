// Upload part files left by a dropped session (worker/engine/upload-leftovers.ts, through the
// files calls of worker/engine/files.ts) against the real OpenSSH sftp-server, spawned on stdio
// per "session" so a session drops by SIGKILL: an upload interrupted that way leaves its part
// file and its record; the next session of the same login (here: of a second files API on the
// same store, as after an engine restart) removes it and forgets it; a recorded part that is
// gone is forgotten quietly; parts recorded for another host or user are untouched; a finished
// or cancelled upload leaves no record; a part whose lock another engine holds is left alone.

import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { FilesApi, TransferMessage } from "../../worker/api.ts";
import { createFilesApi, type FilesSession } from "../../worker/engine/files.ts";
import { MemoryStore } from "../../worker/engine/store.ts";
import {
  hostOf,
  type PartLocks,
  type SessionLogin,
  UploadLeftovers,
  type UploadPartRecord,
} from "../../worker/engine/upload-leftovers.ts";
import { MAX_IO_LENGTH, SftpClient } from "../../worker/ssh/sftp/client.ts";
import { describeWithPrereq, executable, prereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";

const SFTP_SERVER = "/usr/lib/openssh/sftp-server";
const MiB = 1024 * 1024;
const ME = userInfo().username;
const LOGIN: SessionLogin = { networkId: "lab", host: "10.0.0.2", port: 22, username: ME };

/** A "session" whose SFTP is a local sftp-server process; kill() drops it. */
class Session implements FilesSession {
  child: ChildProcess | undefined;
  readonly ended: Promise<void>;
  private end!: () => void;

  constructor(private readonly dir: string) {
    this.ended = new Promise((resolve) => (this.end = resolve));
  }

  async sftp(): Promise<SftpClient> {
    const child = spawn(SFTP_SERVER, ["-d", this.dir], {
      cwd: this.dir,
      stdio: ["pipe", "pipe", "inherit"],
    });
    this.child = child;
    child.on("exit", () => this.end());
    return await SftpClient.open({
      readable: Readable.toWeb(child.stdout!) as unknown as ReadableStream<Uint8Array>,
      writable: Writable.toWeb(child.stdin!) as WritableStream<Uint8Array>,
    });
  }

  kill(): void {
    this.child?.kill("SIGKILL");
  }
}

/** The page's end of an upload's port: records what the engine says. */
class PageEnd {
  readonly channel = new MessageChannel();
  readonly messages: TransferMessage[] = [];

  constructor() {
    this.channel.port1.onmessage = (event: MessageEvent<TransferMessage>) =>
      this.messages.push(event.data);
  }

  send(message: TransferMessage, transfer: Transferable[] = []): void {
    this.channel.port1.postMessage(message, transfer);
  }

  acked(): number {
    return this.messages.reduce((n, m) => n + (m.type === "ack" ? m.bytes : 0), 0);
  }

  async final(): Promise<TransferMessage> {
    const last = () =>
      this.messages.find((m) => m.type === "done" || m.type === "error" || m.type === "cancel");
    await waitUntil(() => last() !== undefined, "the upload's end");
    return last()!;
  }
}

/** Locks of another engine: names held there are unavailable here. */
class OtherEngineLocks implements PartLocks {
  readonly held = new Set<string>();
  async request(
    name: string,
    _options: { ifAvailable: boolean },
    callback: (lock: unknown) => unknown,
  ): Promise<unknown> {
    if (this.held.has(name)) return await callback(null);
    this.held.add(name);
    try {
      return await callback({ name });
    } finally {
      this.held.delete(name);
    }
  }
}

describeWithPrereq(
  prereq(executable(SFTP_SERVER)),
  "upload part files left by dropped sessions",
  () => {
    let dir: string;
    const sessions = new Map<string, Session>();
    const logins = new Map<string, SessionLogin>();
    const store = new MemoryStore();
    const logs: string[] = [];
    let count = 0;

    /** A files API of one "engine" on the shared store. */
    const engine = (): FilesApi =>
      createFilesApi((id) => sessions.get(id), {
        store,
        login: (id) => logins.get(id),
        log: (text) => logs.push(text),
      });
    const open = (login = LOGIN): string => {
      const id = `s${++count}`;
      sessions.set(id, new Session(dir));
      logins.set(id, login);
      return id;
    };
    const parts = () => readdirSync(dir).filter((n) => n.includes(".corridor-part-"));
    const records = () => store.list<UploadPartRecord>("uploadParts");

    beforeAll(() => {
      dir = realpathSync(mkdtempSync(join(tmpdir(), "corridor-leftovers-")));
    });

    afterAll(() => {
      for (const session of sessions.values()) session.kill();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("a finished upload and a cancelled one leave neither a part file nor a record", async () => {
      const files = engine();
      const id = open();
      const done = new PageEnd();
      await files.upload(id, join(dir, "done.bin"), 3, done.channel.port2);
      done.send({ type: "data", data: new Uint8Array([1, 2, 3]) });
      done.send({ type: "end" });
      expect(await done.final()).toEqual({ type: "done", bytes: 3 });

      const cancelled = new PageEnd();
      await files.upload(id, join(dir, "cancelled.bin"), MiB, cancelled.channel.port2);
      cancelled.send({ type: "data", data: new Uint8Array(1000) });
      cancelled.send({ type: "cancel", reason: "no" });
      expect((await cancelled.final()).type).toBe("cancel");
      expect(parts()).toEqual([]);
      expect(await records()).toEqual([]);
      sessions.get(id)!.kill();
    });

    it("an upload cut by a dropped connection leaves its part; the next session removes it", async () => {
      const first = engine();
      const id = open();
      const page = new PageEnd();
      await first.upload(id, join(dir, "big.bin"), 8 * MiB, page.channel.port2);
      const chunk = new Uint8Array(MiB).fill(7);
      page.send({ type: "data", data: chunk }, [chunk.buffer]);
      await waitUntil(() => page.acked() === MiB, "the engine taking the first MiB");
      // Written in requests of sftp-server's max-read-length (limits@openssh.com): the whole
      // requests of that first MiB; the rest waits in the writer for the next chunk.
      const written = MiB - (MiB % MAX_IO_LENGTH);
      await waitUntil(
        () => parts().length === 1 && statSync(join(dir, parts()[0]!)).size === written,
        "the first MiB's whole write requests stored in the part file",
      );
      sessions.get(id)!.kill();
      // The engine notices at once, though it was waiting for the page's next chunk.
      expect(await page.final()).toEqual({
        type: "error",
        message: `upload ${join(dir, "big.bin")}: the SSH session ended`,
      });
      const [left] = parts();
      expect(left).toMatch(/^\.big\.bin\.corridor-part-[0-9a-f]{8}$/);
      expect(await records()).toMatchObject([
        { host: hostOf(LOGIN), user: ME, path: join(dir, left!), createdAt: expect.any(Number) },
      ]);

      // Another engine on the same store (the page reloaded, the engine restarted).
      const second = engine();
      logs.length = 0;
      const listing = await second.listFiles(open(), dir);
      expect(listing.entries.map((e) => e.name)).not.toContain(left);
      expect(parts()).toEqual([]);
      expect(existsSync(join(dir, "big.bin"))).toBe(false);
      expect(await records()).toEqual([]);
      expect(logs).toEqual([`removed 1 unfinished upload part file(s) of ${ME}@10.0.0.2`]);
    });

    it("forgets a recorded part that is gone quietly, and leaves other hosts' and users' parts", async () => {
      const mine = join(dir, ".gone.corridor-part-00000000");
      const otherUser = join(dir, ".u.corridor-part-11111111");
      const otherHost = join(dir, ".h.corridor-part-22222222");
      const otherNet = join(dir, ".n.corridor-part-33333333");
      for (const path of [otherUser, otherHost, otherNet]) writeFileSync(path, "keep");
      const put = (id: string, host: string, user: string, path: string) =>
        store.put<UploadPartRecord>("uploadParts", { id, host, user, path, createdAt: 1 });
      await put("gone", hostOf(LOGIN), ME, mine);
      await put("user", hostOf(LOGIN), "someone-else", otherUser);
      await put("host", hostOf({ ...LOGIN, host: "10.0.0.3" }), ME, otherHost);
      await put("net", hostOf({ ...LOGIN, networkId: "other" }), ME, otherNet);

      logs.length = 0;
      await engine().listFiles(open(), dir);
      expect(logs).toEqual([]);
      expect((await records()).map((r) => r.id).sort()).toEqual(["host", "net", "user"]);
      expect(parts().sort()).toEqual([
        ".h.corridor-part-22222222",
        ".n.corridor-part-33333333",
        ".u.corridor-part-11111111",
      ]);

      // That user's own session removes theirs (the file is the test's: it may).
      await engine().listFiles(open({ ...LOGIN, username: "someone-else" }), dir);
      expect(existsSync(otherUser)).toBe(false);
      expect((await records()).map((r) => r.id).sort()).toEqual(["host", "net"]);
    });

    it("leaves a part whose upload another engine is running (its lock is held)", async () => {
      const locks = new OtherEngineLocks();
      const running = new UploadLeftovers(store, locks);
      const path = join(dir, ".live.corridor-part-44444444");
      const part = await running.record(LOGIN, path);
      writeFileSync(path, "still being written");
      const removed: string[] = [];
      const sftp = { remove: async (p: string) => void removed.push(p) };

      // A second engine sharing the store and the browser's locks.
      const other = new UploadLeftovers(store, locks);
      expect(await other.clean(sftp, LOGIN)).toBe(0);
      expect(removed.filter((p) => p === path)).toEqual([]);

      await part.forget();
      expect((await records()).map((r) => r.path)).not.toContain(path);
      rmSync(path);
    });
  },
);
