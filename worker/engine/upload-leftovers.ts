// Upload part files a dropped session left on a host. files.ts writes every upload to a hidden
// `.NAME.corridor-part-XXXXXXXX` beside its target and renames it into place at the end; a
// cancel or a failure removes it on the same connection, but when the connection itself is gone
// (network lost, tab closed, engine killed) nothing can. So each part is recorded in the
// engine's store before it is created and forgotten once it was renamed or removed, and the next
// SFTP session to the same host and login removes the parts recorded for them. Only recorded
// paths are ever touched: the person's directories are never scanned for the name pattern.
//
// The store may be shared by several engines (dedicated Workers of several tabs share one
// IndexedDB), so a part whose upload is still running must not be taken for a leftover: each
// running upload holds a Web Lock named after its record (released by the browser when its
// Worker dies), and a cleanup skips records whose lock is held. Within one engine a set of
// running parts does the same where there are no Web Locks (Node).

import type { LiveSession } from "../api.ts";
import { SftpError } from "../ssh/sftp/client.ts";
import {
  SSH_FX_CONNECTION_LOST,
  SSH_FX_NO_CONNECTION,
  SSH_FX_NO_SUCH_FILE,
} from "../ssh/sftp/messages.ts";
import type { EngineStore } from "./store.ts";

/** The store kind of the part records. */
const KIND = "uploadParts";

/**
 * A record whose file could not be removed (not "no such file": a permission changed, say) is
 * tried again at each session, and dropped once it is this old, so records cannot pile up.
 */
export const PART_RECORD_MAX_AGE_MS = 30 * 24 * 3600_000;

/** What a session is logged in to: the machine (network, host, port) and the login. */
export type SessionLogin = Pick<LiveSession, "networkId" | "host" | "port" | "username">;

/** A part file as stored: whose it is, where, and since when. */
export interface UploadPartRecord {
  id: string;
  /** The machine, as hostOf names it. */
  host: string;
  user: string;
  /** Absolute path on the host. */
  path: string;
  /** When it was recorded (ms since the epoch). */
  createdAt: number;
}

/**
 * Names the machine of a login for part records: the network is part of it (the same address
 * on another network is another machine), and so is the port.
 */
export function hostOf(login: SessionLogin): string {
  return `${login.networkId}/${login.host}:${login.port}`;
}

/** The SFTP call leftovers need (SftpClient has it). */
export interface LeftoverSftp {
  remove(path: string): Promise<void>;
}

/** Web Locks as far as used here; navigator.locks in a Worker is one. */
export interface PartLocks {
  request(
    name: string,
    options: { ifAvailable: boolean },
    callback: (lock: unknown) => unknown,
  ): Promise<unknown>;
}

/** A part file of a running upload. */
export interface UploadPart {
  /** Its absolute path on the host. */
  readonly path: string;
  /** It was renamed into place (or never created): drops its record. */
  forget(): Promise<void>;
  /**
   * Removes the file and drops its record; true when it is gone (removed, or not there). When
   * the removal fails (the connection dropped) the record stays for the next session.
   */
  discard(sftp: LeftoverSftp): Promise<boolean>;
  /**
   * Creating (or closing) the file failed with `error`: removes whatever was made, and drops
   * the record unless the connection is gone too (a refusal such as "permission denied" leaves
   * nothing a later session could remove either, so its record would only pile up).
   */
  abandon(sftp: LeftoverSftp, error: unknown): Promise<void>;
}

type Removal = "removed" | "absent" | "failed";

async function removal(sftp: LeftoverSftp, path: string): Promise<Removal> {
  try {
    await sftp.remove(path);
    return "removed";
  } catch (error) {
    return error instanceof SftpError && error.code === SSH_FX_NO_SUCH_FILE ? "absent" : "failed";
  }
}

function isRecord(value: unknown): value is UploadPartRecord {
  const r = value as Partial<UploadPartRecord> | null;
  return (
    typeof r === "object" &&
    r !== null &&
    typeof r.id === "string" &&
    typeof r.host === "string" &&
    typeof r.user === "string" &&
    typeof r.path === "string" &&
    r.path.startsWith("/") &&
    typeof r.createdAt === "number"
  );
}

function defaultLocks(): PartLocks | undefined {
  const nav = (globalThis as { navigator?: { locks?: PartLocks } }).navigator;
  return nav?.locks;
}

const lockName = (id: string) => `corridor-upload-part-${id}`;

/** The records of upload part files, and the removal of those a dropped session left. */
export class UploadLeftovers {
  /** Record ids of the uploads running in this engine. */
  private readonly running = new Set<string>();

  /**
   * `store` keeps the records (the engine's: IndexedDB in the browser); `locks` tells running
   * uploads of other engines (default: navigator.locks where there is one).
   */
  constructor(
    private readonly store: EngineStore,
    private readonly locks: PartLocks | undefined = defaultLocks(),
  ) {}

  /**
   * Records the part file `path` (absolute) of an upload as `login` before the upload creates
   * it, and marks it running until forget() or discard(). Rejects when the store fails.
   */
  async record(login: SessionLogin, path: string): Promise<UploadPart> {
    if (!path.startsWith("/")) throw new Error(`upload part ${path}: not an absolute path`);
    const record: UploadPartRecord = {
      id: crypto.randomUUID(),
      host: hostOf(login),
      user: login.username,
      path,
      createdAt: Date.now(),
    };
    this.running.add(record.id);
    const release = await this.hold(record.id);
    let ended = false;
    /** The upload is over: no longer running (its record may stay for the next session). */
    const end = () => {
      if (ended) return;
      ended = true;
      this.running.delete(record.id);
      release();
    };
    try {
      await this.store.put(KIND, record);
    } catch (error) {
      end();
      throw error;
    }
    const forget = async () => {
      // A record left by a failed delete only costs a "no such file" at the next session.
      await this.store.delete(KIND, record.id).catch(() => undefined);
      end();
    };
    /** Removes the file; true when it is gone (removed, or was not there). */
    const remove = async (sftp: LeftoverSftp) => (await removal(sftp, path)) !== "failed";
    return {
      path,
      forget,
      discard: async (sftp) => {
        const gone = await remove(sftp);
        if (gone) await forget();
        else end();
        return gone;
      },
      abandon: async (sftp, error) => {
        const lost =
          error instanceof SftpError &&
          (error.code === SSH_FX_CONNECTION_LOST || error.code === SSH_FX_NO_CONNECTION);
        if ((await remove(sftp)) || !lost) await forget();
        else end();
      },
    };
  }

  /**
   * Removes the part files recorded for `login` that no upload is writing (a session of this
   * login just opened SFTP on `sftp`) and forgets them; one not there is forgotten quietly.
   * Resolves with how many files were removed.
   */
  async clean(sftp: LeftoverSftp, login: SessionLogin): Promise<number> {
    const host = hostOf(login);
    const records = (await this.store.list<UploadPartRecord>(KIND)).filter(
      (r) => isRecord(r) && r.host === host && r.user === login.username,
    );
    let removed = 0;
    for (const record of records) {
      if (this.running.has(record.id)) continue;
      const outcome = await this.ifIdle(record.id, () => removal(sftp, record.path));
      if (outcome === "busy") continue;
      if (outcome === "removed") removed++;
      if (outcome === "failed" && Date.now() - record.createdAt < PART_RECORD_MAX_AGE_MS) continue;
      await this.store.delete(KIND, record.id);
    }
    return removed;
  }

  /** Takes the record's lock until the returned function is called (no-op without locks). */
  private hold(id: string): Promise<() => void> {
    const locks = this.locks;
    if (locks === undefined) return Promise.resolve(() => undefined);
    return new Promise((resolve, reject) => {
      locks
        .request(lockName(id), { ifAvailable: true }, (lock) =>
          // A fresh name is always free; were it not, the part simply goes unguarded.
          lock === null
            ? resolve(() => undefined)
            : new Promise<void>((release) => resolve(() => release())),
        )
        .catch(reject);
    });
  }

  /** Runs `work` holding the record's lock, or answers "busy" when a running upload holds it. */
  private async ifIdle<T>(id: string, work: () => Promise<T>): Promise<T | "busy"> {
    if (this.locks === undefined) return await work();
    let result: T | "busy" = "busy";
    await this.locks.request(lockName(id), { ifAvailable: true }, async (lock) => {
      if (lock !== null) result = await work();
    });
    return result;
  }
}
