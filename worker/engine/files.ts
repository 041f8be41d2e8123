// The files calls of the engine (FilesApi in worker/api.ts): one SFTP session per SSH session,
// opened lazily as a subsystem channel on that session's own connection (no second login),
// browsing and file operations on it, and streamed transfers whose bytes move on a
// MessagePort with a window of acks both ways (transfer-port.ts), never one comlink call per
// chunk. Uploads go to a hidden temporary name beside the target and are renamed into place
// only when every byte is stored, so a cancelled or failed upload never leaves a file under
// the name the person asked for; a download is complete only when "done" arrives. Part files
// a dropped connection could not remove are recorded and removed by the next session of the
// same login (upload-leftovers.ts).

import type {
  FileEntry,
  FileListing,
  FilesApi,
  TransferMessage,
  TransferProgress,
  TransferStarted,
} from "../api.ts";
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type SftpAttrs } from "../ssh/sftp/attrs.ts";
import { type SftpClient, SftpError } from "../ssh/sftp/client.ts";
import { SSH_FX_NO_SUCH_FILE } from "../ssh/sftp/messages.ts";
import { type EngineStore, MemoryStore } from "./store.ts";
import {
  decodeTransferMessage,
  SendWindow,
  TransferCancelled,
  uploadSource,
} from "./transfer-port.ts";
import {
  type PartLocks,
  type SessionLogin,
  UploadLeftovers,
  type UploadPart,
} from "./upload-leftovers.ts";

/** What the files calls need of a session: a way to open SFTP on its connection. */
export interface FilesSession {
  sftp(): Promise<SftpClient>;
  /** Settles when the session has ended. */
  readonly ended: Promise<void>;
}

/** What createFilesApi needs besides the sessions; all optional. */
export interface FilesOptions {
  /** Keeps the records of upload part files (the engine's store; default: memory). */
  store?: EngineStore;
  /**
   * Whom a session is logged in as, where: its upload part files are recorded under it and
   * removed by a later session of the same login. Without it, nothing is recorded.
   */
  login?: (sessionId: string) => SessionLogin | undefined;
  /** Tells uploads running in other engines on the same store (default: navigator.locks). */
  locks?: PartLocks;
  /** Where a cleanup's count is told (default: console.info). */
  log?: (text: string) => void;
}

/** Download bytes are gathered into messages of this size (fewer postMessage calls). */
const DOWNLOAD_BATCH = 256 * 1024;
/** Least time between two progress calls to the page. */
const PROGRESS_INTERVAL_MS = 250;
/** Directory levels removeFile descends before refusing (a loop of bind mounts, say). */
const MAX_REMOVE_DEPTH = 64;

/** `path` joined to `name` with one slash. */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

/** The directory and last name of a path ("/a/b" → ["/a", "b"]; "b" → [".", "b"]). */
export function splitPath(path: string): [string, string] {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const slash = trimmed.lastIndexOf("/");
  if (slash < 0) return [".", trimmed];
  return [slash === 0 ? "/" : trimmed.slice(0, slash), trimmed.slice(slash + 1)];
}

function typeOf(attrs: SftpAttrs): FileEntry["type"] {
  if (attrs.permissions === undefined) return "other";
  const type = attrs.permissions & S_IFMT;
  if (type === S_IFDIR) return "dir";
  if (type === S_IFREG) return "file";
  if (type === S_IFLNK) return "link";
  return "other";
}

function entryOf(name: string, path: string, attrs: SftpAttrs, symlink: boolean): FileEntry {
  return {
    name,
    path,
    type: typeOf(attrs),
    symlink,
    size: attrs.size ?? null,
    mtime: attrs.mtime === undefined ? null : attrs.mtime * 1000,
    permissions: attrs.permissions === undefined ? null : attrs.permissions & 0o7777,
  };
}

/** Calls onProgress at most every PROGRESS_INTERVAL_MS, and always for the last figure. */
function throttled(progress: TransferProgress | undefined, total: number | null) {
  let last = 0;
  return (bytes: number, final = false) => {
    if (progress === undefined) return;
    const now = Date.now();
    if (!final && now - last < PROGRESS_INTERVAL_MS) return;
    last = now;
    void Promise.resolve(progress.onProgress(bytes, total)).catch(() => undefined);
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Creates the files calls over the engine's open sessions. */
export function createFilesApi(
  session: (id: string) => FilesSession | undefined,
  options: FilesOptions = {},
): FilesApi {
  const clients = new Map<string, Promise<SftpClient>>();
  /** Running transfers by id: their session, and how to stop them. */
  const transfers = new Map<
    string,
    { sessionId: string; stop(reason: string): void; lost?(error: Error): void }
  >();
  const leftovers = new UploadLeftovers(options.store ?? new MemoryStore(), options.locks);
  const log = options.log ?? ((text: string) => console.info(`corridor: ${text}`));

  /** Removes what dropped sessions of this login left; never fails the SFTP start. */
  const cleanLeftovers = async (sftp: SftpClient, login: SessionLogin) => {
    try {
      const removed = await leftovers.clean(sftp, login);
      if (removed > 0) {
        log(`removed ${removed} unfinished upload part file(s) of ${login.username}@${login.host}`);
      }
    } catch (error) {
      log(`upload part files of ${login.username}@${login.host} not cleaned: ${messageOf(error)}`);
    }
  };

  const sftpOf = async (sessionId: string): Promise<SftpClient> => {
    const cached = clients.get(sessionId);
    if (cached !== undefined) {
      const client = await cached.catch(() => null);
      if (client !== null && !client.closed) return client;
      clients.delete(sessionId);
    }
    const open = session(sessionId);
    if (open === undefined) {
      throw new Error(`no open SSH session ${sessionId}: files need a connected session`);
    }
    const login = options.login?.(sessionId);
    const started = open.sftp().then(
      async (client) => {
        // Before the first listing, so the panel never shows a part file about to vanish.
        if (login !== undefined) await cleanLeftovers(client, login);
        return client;
      },
      (error: unknown) => {
        throw new Error(`the host did not start SFTP: ${messageOf(error)}`);
      },
    );
    clients.set(sessionId, started);
    void open.ended.finally(() => {
      if (clients.get(sessionId) === started) clients.delete(sessionId);
      // An upload waiting for the page's next chunk would not notice the connection is gone.
      for (const transfer of transfers.values()) {
        if (transfer.sessionId === sessionId) transfer.lost?.(new Error("the SSH session ended"));
      }
      void started.then((c) => c.end()).catch(() => undefined);
    });
    return await started;
  };

  const entry = async (sftp: SftpClient, path: string): Promise<FileEntry> => {
    const lstat = await sftp.lstat(path);
    const [, name] = splitPath(path);
    if (typeOf(lstat) !== "link") return entryOf(name, path, lstat, false);
    const target = await sftp.stat(path).catch(() => null);
    return entryOf(name, path, target ?? lstat, true);
  };

  const removeTree = async (sftp: SftpClient, path: string, depth: number): Promise<void> => {
    const attrs = await sftp.lstat(path);
    if (typeOf(attrs) !== "dir") return await sftp.remove(path);
    if (depth >= MAX_REMOVE_DEPTH) {
      throw new Error(`remove ${path}: deeper than ${MAX_REMOVE_DEPTH} levels, not removed`);
    }
    for (const child of await sftp.readdir(path)) {
      await removeTree(sftp, joinPath(path, child.filename), depth + 1);
    }
    await sftp.rmdir(path);
  };

  return {
    async listFiles(sessionId, path): Promise<FileListing> {
      const sftp = await sftpOf(sessionId);
      const dir = await sftp.realpath(path === "" ? "." : path);
      const names = await sftp.readdir(dir);
      const entries = await Promise.all(
        names.map(async ({ filename, attrs }) => {
          const full = joinPath(dir, filename);
          if (typeOf(attrs) !== "link") return entryOf(filename, full, attrs, false);
          const target = await sftp.stat(full).catch(() => null);
          return entryOf(filename, full, target ?? attrs, true);
        }),
      );
      entries.sort((a, b) =>
        (a.type === "dir") !== (b.type === "dir")
          ? a.type === "dir"
            ? -1
            : 1
          : a.name < b.name
            ? -1
            : a.name > b.name
              ? 1
              : 0,
      );
      return { path: dir, entries };
    },

    async statFile(sessionId, path) {
      return await entry(await sftpOf(sessionId), path);
    },

    async renameFile(sessionId, from, to) {
      await (await sftpOf(sessionId)).rename(from, to);
    },

    async removeFile(sessionId, path) {
      await removeTree(await sftpOf(sessionId), path, 0);
    },

    async makeDir(sessionId, path) {
      await (await sftpOf(sessionId)).mkdir(path);
    },

    async download(sessionId, path, port, progress): Promise<TransferStarted> {
      const sftp = await sftpOf(sessionId);
      const attrs = await sftp.stat(path);
      if (typeOf(attrs) === "dir") throw new Error(`download ${path}: it is a directory`);
      const size = attrs.size ?? null;
      const id = crypto.randomUUID();
      const stream = sftp.createReadStream(path);
      const reader = stream.getReader();
      const window = new SendWindow();
      let stopped: string | null = null;
      const stop = (reason: string) => {
        if (stopped !== null) return;
        stopped = reason;
        window.release();
        void reader.cancel(reason).catch(() => undefined);
      };
      transfers.set(id, { sessionId, stop });
      port.onmessage = (event: MessageEvent<unknown>) => {
        try {
          const message = decodeTransferMessage(event.data);
          if (message.type === "ack") window.ack(message.bytes);
          else if (message.type === "cancel") stop(message.reason || "cancelled by the page");
        } catch (error) {
          stop(messageOf(error));
        }
      };
      const report = throttled(progress, size);
      const post = (message: TransferMessage, transfer: Transferable[] = []) => {
        port.postMessage(message, transfer);
      };
      void (async () => {
        let sent = 0;
        let batch = new Uint8Array(DOWNLOAD_BATCH);
        let fill = 0;
        const flush = async () => {
          if (fill === 0) return;
          const out = fill === batch.length ? batch : batch.slice(0, fill);
          // Counted before the transfer detaches the buffer (its length reads 0 after).
          window.sent(out.length);
          sent += out.length;
          post({ type: "data", data: out }, [out.buffer]);
          report(sent);
          batch = new Uint8Array(DOWNLOAD_BATCH);
          fill = 0;
          await window.room();
        };
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (stopped !== null) break;
            if (done) break;
            let at = 0;
            while (at < value.length) {
              const take = Math.min(value.length - at, batch.length - fill);
              batch.set(value.subarray(at, at + take), fill);
              fill += take;
              at += take;
              if (fill === batch.length) await flush();
            }
          }
          if (stopped === null) await flush();
          if (stopped !== null) {
            post({ type: "cancel", reason: stopped });
          } else {
            report(sent, true);
            post({ type: "done", bytes: sent });
          }
        } catch (error) {
          // A read error, or the page stopped acking (window.room): the file's reads stop too.
          void reader.cancel().catch(() => undefined);
          post(
            stopped !== null
              ? { type: "cancel", reason: stopped }
              : { type: "error", message: `download ${path}: ${messageOf(error)}` },
          );
        } finally {
          transfers.delete(id);
          port.onmessage = null;
          port.close();
        }
      })();
      return { id, size };
    },

    async upload(sessionId, path, size, port, progress): Promise<TransferStarted> {
      const sftp = await sftpOf(sessionId);
      const [dir, name] = splitPath(path);
      if (name === "" || name === "." || name === "..") {
        throw new Error(`upload ${path}: not a file name`);
      }
      const existing = await sftp.stat(path).catch((error: unknown) => {
        if (error instanceof SftpError && error.code === SSH_FX_NO_SUCH_FILE) return null;
        throw error;
      });
      if (existing !== null && typeOf(existing) === "dir") {
        throw new Error(`upload ${path}: a directory has that name`);
      }
      // Absolute, so a later session finds the part whatever its working directory.
      const base = await sftp.realpath(dir);
      const temp = joinPath(base, `.${name}.corridor-part-${crypto.randomUUID().slice(0, 8)}`);
      const login = options.login?.(sessionId);
      // Recorded before it exists: a connection that drops from here on leaves a known file.
      const part: UploadPart | null =
        login === undefined
          ? null
          : await leftovers.record(login, temp).catch((error: unknown) => {
              log(`upload ${path}: its part file is not recorded: ${messageOf(error)}`);
              return null;
            });
      try {
        // Opening the temporary file now reports a directory we cannot write to at once.
        await sftp.close(await sftp.open(temp, "wx"));
      } catch (error) {
        if (part === null) await sftp.remove(temp).catch(() => undefined);
        else await part.abandon(sftp, error);
        throw error;
      }
      const id = crypto.randomUUID();
      const source = uploadSource(port);
      transfers.set(id, {
        sessionId,
        stop: (reason) => source.cancel(reason),
        lost: (error) => source.fail(error),
      });
      const report = throttled(progress, size);
      void (async () => {
        let stored = 0;
        try {
          await sftp.writeFile(temp, source.stream, {
            onProgress: (bytes) => {
              stored = bytes;
              report(bytes);
            },
          });
          if (existing !== null) await sftp.remove(path);
          await sftp.rename(temp, path);
          await part?.forget();
          report(stored, true);
          port.postMessage({ type: "done", bytes: stored } satisfies TransferMessage);
        } catch (error) {
          if (part === null) await sftp.remove(temp).catch(() => undefined);
          else await part.discard(sftp);
          port.postMessage(
            (error instanceof TransferCancelled
              ? { type: "cancel", reason: error.message }
              : {
                  type: "error",
                  message: `upload ${path}: ${messageOf(error)}`,
                }) satisfies TransferMessage,
          );
        } finally {
          transfers.delete(id);
          port.onmessage = null;
          port.close();
        }
      })();
      return { id, size };
    },

    async cancelTransfer(id) {
      transfers.get(id)?.stop("cancelled");
    },
  };
}
