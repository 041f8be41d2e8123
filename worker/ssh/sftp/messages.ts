// SFTP version 3 messages (draft-ietf-secsh-filexfer-02): packet types, status codes and open
// flags as named constants, encoders for the client's requests (each returns a whole framed
// packet: uint32 length ‖ type ‖ body), and a bounds-checked parser for everything a server
// sends. The parser reads hostile bytes: every failure is an SftpProtocolError naming the packet
// type and what was wrong ("NAME: count 4294967295 exceeds the packet"); nothing else escapes.

import { SshProtocolError, SshReader, SshWriter } from "../wire.ts";
import { readAttrs, type SftpAttrs, writeAttrs } from "./attrs.ts";
import { SftpProtocolError } from "./errors.ts";

/** Client hello: uint32 version, then extension pairs. */
export const SSH_FXP_INIT = 1;
/** Server hello: uint32 version, then extension pairs. */
export const SSH_FXP_VERSION = 2;
/** Open a file: path, pflags, attrs. */
export const SSH_FXP_OPEN = 3;
/** Close a file or directory handle. */
export const SSH_FXP_CLOSE = 4;
/** Read: handle, uint64 offset, uint32 length. */
export const SSH_FXP_READ = 5;
/** Write: handle, uint64 offset, data. */
export const SSH_FXP_WRITE = 6;
/** Attributes of a path, not following symlinks. */
export const SSH_FXP_LSTAT = 7;
/** Attributes of an open handle. */
export const SSH_FXP_FSTAT = 8;
/** Set attributes of a path. */
export const SSH_FXP_SETSTAT = 9;
/** Set attributes of an open handle. */
export const SSH_FXP_FSETSTAT = 10;
/** Open a directory for listing. */
export const SSH_FXP_OPENDIR = 11;
/** Next batch of directory entries. */
export const SSH_FXP_READDIR = 12;
/** Remove a file. */
export const SSH_FXP_REMOVE = 13;
/** Create a directory: path, attrs. */
export const SSH_FXP_MKDIR = 14;
/** Remove a directory. */
export const SSH_FXP_RMDIR = 15;
/** Canonicalize a path. */
export const SSH_FXP_REALPATH = 16;
/** Attributes of a path, following symlinks. */
export const SSH_FXP_STAT = 17;
/** Rename: old path, new path. */
export const SSH_FXP_RENAME = 18;
/** Target of a symbolic link. */
export const SSH_FXP_READLINK = 19;
/** Create a symbolic link (OpenSSH swaps the two arguments). */
export const SSH_FXP_SYMLINK = 20;
/** Response: uint32 code, message, language tag. */
export const SSH_FXP_STATUS = 101;
/** Response: a handle string. */
export const SSH_FXP_HANDLE = 102;
/** Response: a data string. */
export const SSH_FXP_DATA = 103;
/** Response: a count of (filename, longname, attrs). */
export const SSH_FXP_NAME = 104;
/** Response: attrs. */
export const SSH_FXP_ATTRS = 105;
/** Vendor request: name, then request-specific data. */
export const SSH_FXP_EXTENDED = 200;
/** Response to SSH_FXP_EXTENDED: request-specific data. */
export const SSH_FXP_EXTENDED_REPLY = 201;

/** Success. */
export const SSH_FX_OK = 0;
/** End of file (read) or of the listing (readdir). */
export const SSH_FX_EOF = 1;
/** No such file or directory. */
export const SSH_FX_NO_SUCH_FILE = 2;
/** Permission denied. */
export const SSH_FX_PERMISSION_DENIED = 3;
/** Any other failure. */
export const SSH_FX_FAILURE = 4;
/** A badly formatted request. */
export const SSH_FX_BAD_MESSAGE = 5;
/** Client-side: no connection to the server. */
export const SSH_FX_NO_CONNECTION = 6;
/** Client-side: the connection to the server was lost. */
export const SSH_FX_CONNECTION_LOST = 7;
/** The server does not support the operation. */
export const SSH_FX_OP_UNSUPPORTED = 8;

/** Open for reading. */
export const SSH_FXF_READ = 0x01;
/** Open for writing. */
export const SSH_FXF_WRITE = 0x02;
/** Every write goes to the end of the file. */
export const SSH_FXF_APPEND = 0x04;
/** Create the file if it does not exist. */
export const SSH_FXF_CREAT = 0x08;
/** Truncate an existing file (needs SSH_FXF_CREAT). */
export const SSH_FXF_TRUNC = 0x10;
/** Fail if the file exists (needs SSH_FXF_CREAT). */
export const SSH_FXF_EXCL = 0x20;

/** The protocol version this client speaks. */
export const SFTP_VERSION = 3;
/** Longest handle a server may send (draft §6.2: "MUST NOT be longer than 256 bytes"). */
export const MAX_HANDLE_LENGTH = 256;

const PACKET_NAMES: Readonly<Record<number, string>> = {
  [SSH_FXP_VERSION]: "VERSION",
  [SSH_FXP_STATUS]: "STATUS",
  [SSH_FXP_HANDLE]: "HANDLE",
  [SSH_FXP_DATA]: "DATA",
  [SSH_FXP_NAME]: "NAME",
  [SSH_FXP_ATTRS]: "ATTRS",
  [SSH_FXP_EXTENDED_REPLY]: "EXTENDED_REPLY",
};

/** A protocol extension a server announced in VERSION (e.g. "posix-rename@openssh.com"). */
export interface SftpExtension {
  name: string;
  data: Uint8Array;
}

/** One entry of a NAME response. */
export interface SftpName {
  /** The file name (a bare name for readdir, a full path for realpath). */
  filename: string;
  /** An `ls -l` style line; its format is not specified by the protocol. */
  longname: string;
  attrs: SftpAttrs;
}

/** A parsed server packet; byte fields are views of the packet, not copies. */
export type SftpResponse =
  | { kind: "version"; version: number; extensions: SftpExtension[] }
  | { kind: "status"; id: number; code: number; message: string; language: string }
  | { kind: "handle"; id: number; handle: Uint8Array }
  | { kind: "data"; id: number; data: Uint8Array }
  | { kind: "name"; id: number; names: SftpName[] }
  | { kind: "attrs"; id: number; attrs: SftpAttrs }
  | { kind: "extended-reply"; id: number; data: Uint8Array };

/** Server-side strings (messages, names) are decoded leniently: bad UTF-8 becomes U+FFFD. */
const LENIENT_UTF8 = new TextDecoder("utf-8");
/** Least bytes of one NAME entry: two empty strings and an empty attrs flags word. */
const MIN_NAME_ENTRY = 12;

/**
 * Parses one server packet (the bytes after its uint32 length: type byte first). Throws
 * SftpProtocolError for anything malformed: an unknown type, a field past the end, trailing
 * bytes, counts larger than the packet, unknown attribute flags, an over-long handle.
 */
export function parseResponse(payload: Uint8Array): SftpResponse {
  const type = payload[0];
  if (type === undefined) throw new SftpProtocolError("empty packet");
  const what = PACKET_NAMES[type];
  if (what === undefined) throw new SftpProtocolError(`unknown packet type ${type}`);
  const reader = new SshReader(payload.subarray(1));
  try {
    const response = parseBody(type, what, reader);
    reader.expectEnd(what);
    return response;
  } catch (e) {
    if (e instanceof SshProtocolError) {
      const message = e.message.startsWith(what) ? e.message : `${what}: ${e.message}`;
      throw new SftpProtocolError(message, { cause: e });
    }
    throw e;
  }
}

function parseBody(type: number, what: string, r: SshReader): SftpResponse {
  if (type === SSH_FXP_VERSION) {
    const version = r.readUint32(`${what}: version`);
    const extensions: SftpExtension[] = [];
    while (r.remaining > 0) {
      const name = LENIENT_UTF8.decode(r.readString(`${what}: extension name`));
      extensions.push({ name, data: r.readString(`${what}: extension data`) });
    }
    return { kind: "version", version, extensions };
  }
  const id = r.readUint32(`${what}: request id`);
  switch (type) {
    case SSH_FXP_STATUS: {
      const code = r.readUint32(`${what}: code`);
      // Pre-version-3 servers end here; accept that rather than fail the session.
      if (r.remaining === 0) return { kind: "status", id, code, message: "", language: "" };
      const message = LENIENT_UTF8.decode(r.readString(`${what}: message`));
      const language = LENIENT_UTF8.decode(r.readString(`${what}: language tag`));
      return { kind: "status", id, code, message, language };
    }
    case SSH_FXP_HANDLE: {
      const handle = r.readString(`${what}: handle`);
      if (handle.length > MAX_HANDLE_LENGTH) {
        throw new SftpProtocolError(
          `${what}: handle of ${handle.length} bytes is longer than ${MAX_HANDLE_LENGTH}`,
        );
      }
      return { kind: "handle", id, handle };
    }
    case SSH_FXP_DATA:
      return { kind: "data", id, data: r.readString(`${what}: data`) };
    case SSH_FXP_NAME: {
      const count = r.readUint32(`${what}: count`);
      if (count > r.remaining / MIN_NAME_ENTRY) {
        throw new SftpProtocolError(`${what}: count ${count} exceeds the packet`);
      }
      const names: SftpName[] = [];
      for (let i = 0; i < count; i++) {
        const filename = LENIENT_UTF8.decode(r.readString(`${what}: filename`));
        const longname = LENIENT_UTF8.decode(r.readString(`${what}: longname`));
        names.push({ filename, longname, attrs: readAttrs(r, what) });
      }
      return { kind: "name", id, names };
    }
    case SSH_FXP_ATTRS:
      return { kind: "attrs", id, attrs: readAttrs(r, what) };
    default:
      // SSH_FXP_EXTENDED_REPLY: the rest is request-specific.
      return { kind: "extended-reply", id, data: r.readRaw(r.remaining, `${what}: data`) };
  }
}

/** The extension whose request returns the server's limits (OpenSSH PROTOCOL §4.8). */
export const LIMITS_EXTENSION = "limits@openssh.com";

/** What a server's limits@openssh.com reply says; 0 means "no limit given". */
export interface SftpLimits {
  /** Longest packet the server accepts, in bytes. */
  maxPacketLength: number;
  /** Longest read the server answers in full. */
  maxReadLength: number;
  /** Longest write the server accepts. */
  maxWriteLength: number;
  /** Open handles the server allows at once. */
  maxOpenHandles: number;
}

/**
 * Parses the data of a limits@openssh.com EXTENDED_REPLY: four uint64s. Values above 2^53 are
 * capped there (they only mean "very large"). Throws SftpProtocolError when the data is short or
 * has trailing bytes.
 */
export function parseLimits(data: Uint8Array): SftpLimits {
  const what = "limits@openssh.com reply";
  const r = new SshReader(data);
  const field = (name: string) => {
    const value = r.readUint64(`${what}: ${name}`);
    return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
  };
  try {
    const limits = {
      maxPacketLength: field("max-packet-length"),
      maxReadLength: field("max-read-length"),
      maxWriteLength: field("max-write-length"),
      maxOpenHandles: field("max-open-handles"),
    };
    r.expectEnd(what);
    return limits;
  } catch (e) {
    if (e instanceof SshProtocolError) throw new SftpProtocolError(e.message, { cause: e });
    throw e;
  }
}

/** Builds uint32 length ‖ type ‖ body, the body written by `body`. */
function packet(type: number, capacity: number, body: (w: SshWriter) => void): Uint8Array {
  const w = new SshWriter(capacity + 5);
  w.writeUint32(0).writeByte(type);
  body(w);
  const bytes = w.toBytes();
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(0, bytes.length - 4, false);
  return bytes;
}

/** SSH_FXP_INIT for `version` (no extensions). */
export function encodeInit(version = SFTP_VERSION): Uint8Array {
  return packet(SSH_FXP_INIT, 4, (w) => w.writeUint32(version));
}

/** A request whose body is one path: LSTAT, STAT, OPENDIR, REMOVE, RMDIR, REALPATH, READLINK. */
export function encodePathRequest(type: number, id: number, path: string): Uint8Array {
  return packet(type, 8 + path.length * 3, (w) => w.writeUint32(id).writeString(path));
}

/** A request whose body is one handle: CLOSE, FSTAT, READDIR. */
export function encodeHandleRequest(type: number, id: number, handle: Uint8Array): Uint8Array {
  return packet(type, 8 + handle.length, (w) => w.writeUint32(id).writeString(handle));
}

/** SSH_FXP_OPEN: path, SSH_FXF_* flags, attrs for a created file. */
export function encodeOpen(id: number, path: string, pflags: number, attrs?: SftpAttrs) {
  return packet(SSH_FXP_OPEN, 32 + path.length * 3, (w) => {
    w.writeUint32(id).writeString(path).writeUint32(pflags);
    writeAttrs(w, attrs);
  });
}

/** SSH_FXP_EXTENDED: the request `name` with `data` after it (empty for limits@openssh.com). */
export function encodeExtended(id: number, name: string, data = new Uint8Array(0)): Uint8Array {
  return packet(SSH_FXP_EXTENDED, 12 + name.length * 3 + data.length, (w) =>
    w.writeUint32(id).writeString(name).writeRaw(data),
  );
}

/** SSH_FXP_READ: `length` bytes of `handle` at `offset`. */
export function encodeRead(id: number, handle: Uint8Array, offset: number, length: number) {
  checkOffset(offset);
  return packet(SSH_FXP_READ, 20 + handle.length, (w) =>
    w.writeUint32(id).writeString(handle).writeUint64(BigInt(offset)).writeUint32(length),
  );
}

/** SSH_FXP_WRITE: `data` to `handle` at `offset`. */
export function encodeWrite(id: number, handle: Uint8Array, offset: number, data: Uint8Array) {
  checkOffset(offset);
  return packet(SSH_FXP_WRITE, 20 + handle.length + data.length, (w) =>
    w.writeUint32(id).writeString(handle).writeUint64(BigInt(offset)).writeString(data),
  );
}

/** SSH_FXP_SETSTAT (path) or, with a handle, SSH_FXP_FSETSTAT. */
export function encodeSetstat(id: number, target: string | Uint8Array, attrs: SftpAttrs) {
  const type = typeof target === "string" ? SSH_FXP_SETSTAT : SSH_FXP_FSETSTAT;
  return packet(type, 64 + target.length * 3, (w) => {
    w.writeUint32(id).writeString(target);
    writeAttrs(w, attrs);
  });
}

/** SSH_FXP_MKDIR: path and attrs for the new directory. */
export function encodeMkdir(id: number, path: string, attrs?: SftpAttrs): Uint8Array {
  return packet(SSH_FXP_MKDIR, 32 + path.length * 3, (w) => {
    w.writeUint32(id).writeString(path);
    writeAttrs(w, attrs);
  });
}

/** SSH_FXP_RENAME: old path, new path. */
export function encodeRename(id: number, from: string, to: string): Uint8Array {
  return packet(SSH_FXP_RENAME, 12 + (from.length + to.length) * 3, (w) =>
    w.writeUint32(id).writeString(from).writeString(to),
  );
}

function checkOffset(offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new RangeError(`offset ${offset} is not a non-negative safe integer`);
  }
}
