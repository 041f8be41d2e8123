// The engine's API, files (issue 15 item 5): SFTP on a session's own SSH connection, transfers
// streamed on a MessagePort with acks (part of EngineApi, re-exported by worker/api.ts).

/** One entry of a remote directory. */
export interface FileEntry {
  /** The entry's name (no slash). */
  name: string;
  /** Its absolute path on the host. */
  path: string;
  /** What it is; a symbolic link reports what it points to ("link" when that is gone). */
  type: "file" | "dir" | "link" | "other";
  /** True when the entry is a symbolic link. */
  symlink: boolean;
  /** Size in bytes, when the server says. */
  size: number | null;
  /** Last modification (unix ms), when the server says. */
  mtime: number | null;
  /** POSIX permission bits (0o755), when the server says. */
  permissions: number | null;
}

/** A directory listing: its canonical path and its entries (directories first, by name). */
export interface FileListing {
  path: string;
  entries: FileEntry[];
}

/** Progress of a transfer, given to download/upload as a comlink proxy (at most ~4 calls/s). */
export interface TransferProgress {
  onProgress(bytes: number, total: number | null): void;
}

/** A transfer the engine started: its id for cancelTransfer, and the size when known. */
export interface TransferStarted {
  id: string;
  size: number | null;
}

/**
 * Messages on a transfer's MessagePort. Download (engine → page): "data" chunks, then "done"
 * with the byte count (the only sign of a complete file), or "error"/"cancel"; the page sends
 * "ack" for bytes it has consumed (the engine keeps at most TRANSFER_WINDOW unacknowledged)
 * and may send "cancel". Upload (page → engine): "data" chunks, then "end"; the engine acks
 * bytes it has taken into the SFTP pipeline and answers "done" once the file is stored under its
 * name (it is written to a temporary name and renamed), or "error"/"cancel".
 */
export type TransferMessage =
  | { type: "data"; data: Uint8Array }
  | { type: "ack"; bytes: number }
  | { type: "end" }
  | { type: "done"; bytes: number }
  | { type: "cancel"; reason: string }
  | { type: "error"; message: string };

/** Bytes a transfer's sender keeps in flight ahead of the receiver's acks. */
export const TRANSFER_WINDOW = 4 << 20;

/** Largest "data" chunk either side accepts on a transfer port. */
export const TRANSFER_MAX_CHUNK = 1 << 20;

/** The files calls of EngineApi (SFTP on the session `sessionId`'s SSH connection). */
export interface FilesApi {
  /** Lists a directory ("" or "." is the login directory); errors name the path and cause. */
  listFiles(sessionId: string, path: string): Promise<FileListing>;
  /** One entry's attributes (following links). */
  statFile(sessionId: string, path: string): Promise<FileEntry>;
  /** Renames; fails when `to` exists. */
  renameFile(sessionId: string, from: string, to: string): Promise<void>;
  /** Removes a file, or a directory with everything in it (recursive). */
  removeFile(sessionId: string, path: string): Promise<void>;
  makeDir(sessionId: string, path: string): Promise<void>;
  /**
   * Opens `path` and streams it on `port` (TransferMessage). Rejects when it cannot be opened
   * (no such file, permission denied); failures after that arrive on the port.
   */
  download(
    sessionId: string,
    path: string,
    port: MessagePort,
    progress?: TransferProgress,
  ): Promise<TransferStarted>;
  /**
   * Receives a file on `port` and stores it at `path` (replacing a file there) through a
   * temporary name in the same directory, so a cancelled or failed upload never leaves a file
   * under the final name. `size` (when known) is for progress.
   */
  upload(
    sessionId: string,
    path: string,
    size: number | null,
    port: MessagePort,
    progress?: TransferProgress,
  ): Promise<TransferStarted>;
  /** Cancels a running transfer (a download's stream fails; an upload's temporary file goes). */
  cancelTransfer(id: string): Promise<void>;
}
