// SFTP version 3 file attributes (draft-ietf-secsh-filexfer-02 §5): a flags word saying which
// fields follow, then size, uid/gid, permissions, atime/mtime and extended pairs. The decoder
// reads hostile bytes through SshReader (bounds-checked) and refuses what it cannot parse
// (unknown flag bits, sizes past 2^53, extended counts larger than the packet) with
// SftpProtocolError; the encoder writes only the fields that are present.

import type { SshReader, SshWriter } from "../wire.ts";
import { SftpProtocolError } from "./errors.ts";

/** ATTRS has a uint64 size. */
export const SSH_FILEXFER_ATTR_SIZE = 0x00000001;
/** ATTRS has uint32 uid and gid. */
export const SSH_FILEXFER_ATTR_UIDGID = 0x00000002;
/** ATTRS has uint32 permissions (POSIX mode bits, including the file type). */
export const SSH_FILEXFER_ATTR_PERMISSIONS = 0x00000004;
/** ATTRS has uint32 atime and mtime (seconds since the epoch). */
export const SSH_FILEXFER_ATTR_ACMODTIME = 0x00000008;
/** ATTRS has a count of extended (type, data) pairs. */
export const SSH_FILEXFER_ATTR_EXTENDED = 0x80000000;

const KNOWN_FLAGS =
  SSH_FILEXFER_ATTR_SIZE |
  SSH_FILEXFER_ATTR_UIDGID |
  SSH_FILEXFER_ATTR_PERMISSIONS |
  SSH_FILEXFER_ATTR_ACMODTIME |
  SSH_FILEXFER_ATTR_EXTENDED;

/** POSIX file type bits of `permissions` (S_IFMT) and the two types callers ask about most. */
export const S_IFMT = 0o170000;
/** A directory (S_IFDIR). */
export const S_IFDIR = 0o040000;
/** A regular file (S_IFREG). */
export const S_IFREG = 0o100000;
/** A symbolic link (S_IFLNK). */
export const S_IFLNK = 0o120000;

/** One extended attribute: a type name such as "foo@example.com" and opaque data. */
export interface SftpExtendedAttr {
  type: string;
  data: Uint8Array;
}

/** File attributes; every field is optional, as in the protocol. */
export interface SftpAttrs {
  /** Size in bytes (a uint64 on the wire; values past 2^53 - 1 are refused). */
  size?: number;
  /** Owner user id (sent together with gid). */
  uid?: number;
  /** Owner group id (sent together with uid). */
  gid?: number;
  /** POSIX mode: file type and permission bits, e.g. 0o100644. */
  permissions?: number;
  /** Access time, seconds since the epoch (sent together with mtime). */
  atime?: number;
  /** Modification time, seconds since the epoch (sent together with atime). */
  mtime?: number;
  /** Extended attributes, in the server's order. */
  extended?: SftpExtendedAttr[];
}

const LENIENT_UTF8 = new TextDecoder("utf-8");
/** Least bytes of one extended pair: two empty strings. */
const MIN_EXTENDED_PAIR = 8;

/** Reads an ATTRS structure; `what` names the packet in error messages ("NAME", "ATTRS"). */
export function readAttrs(reader: SshReader, what: string): SftpAttrs {
  const flags = reader.readUint32(`${what}: attrs flags`);
  const unknown = (flags & ~KNOWN_FLAGS) >>> 0;
  if (unknown !== 0) {
    throw new SftpProtocolError(`${what}: unknown attribute flags 0x${unknown.toString(16)}`);
  }
  const attrs: SftpAttrs = {};
  if (flags & SSH_FILEXFER_ATTR_SIZE) {
    const size = reader.readUint64(`${what}: size`);
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new SftpProtocolError(`${what}: size ${size} is larger than 2^53 - 1`);
    }
    attrs.size = Number(size);
  }
  if (flags & SSH_FILEXFER_ATTR_UIDGID) {
    attrs.uid = reader.readUint32(`${what}: uid`);
    attrs.gid = reader.readUint32(`${what}: gid`);
  }
  if (flags & SSH_FILEXFER_ATTR_PERMISSIONS) {
    attrs.permissions = reader.readUint32(`${what}: permissions`);
  }
  if (flags & SSH_FILEXFER_ATTR_ACMODTIME) {
    attrs.atime = reader.readUint32(`${what}: atime`);
    attrs.mtime = reader.readUint32(`${what}: mtime`);
  }
  if (flags & SSH_FILEXFER_ATTR_EXTENDED) {
    const count = reader.readUint32(`${what}: extended count`);
    if (count > reader.remaining / MIN_EXTENDED_PAIR) {
      throw new SftpProtocolError(`${what}: extended count ${count} exceeds the packet`);
    }
    const extended: SftpExtendedAttr[] = [];
    for (let i = 0; i < count; i++) {
      const type = LENIENT_UTF8.decode(reader.readString(`${what}: extended type`));
      const data = reader.readString(`${what}: extended data`);
      extended.push({ type, data });
    }
    attrs.extended = extended;
  }
  return attrs;
}

function checkU32(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`attrs: ${field} ${value} is not a uint32`);
  }
}

/**
 * Writes an ATTRS structure with the fields of `attrs` that are set. uid/gid and atime/mtime
 * travel in pairs: setting one without the other is a RangeError, as are out-of-range values.
 */
export function writeAttrs(writer: SshWriter, attrs: SftpAttrs = {}): void {
  const { size, uid, gid, permissions, atime, mtime, extended } = attrs;
  if ((uid === undefined) !== (gid === undefined)) {
    throw new RangeError("attrs: uid and gid must be set together");
  }
  if ((atime === undefined) !== (mtime === undefined)) {
    throw new RangeError("attrs: atime and mtime must be set together");
  }
  let flags = 0;
  if (size !== undefined) {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RangeError(`attrs: size ${size} is not a non-negative safe integer`);
    }
    flags |= SSH_FILEXFER_ATTR_SIZE;
  }
  if (uid !== undefined && gid !== undefined) {
    checkU32("uid", uid);
    checkU32("gid", gid);
    flags |= SSH_FILEXFER_ATTR_UIDGID;
  }
  if (permissions !== undefined) {
    checkU32("permissions", permissions);
    flags |= SSH_FILEXFER_ATTR_PERMISSIONS;
  }
  if (atime !== undefined && mtime !== undefined) {
    checkU32("atime", atime);
    checkU32("mtime", mtime);
    flags |= SSH_FILEXFER_ATTR_ACMODTIME;
  }
  if (extended !== undefined && extended.length > 0) flags |= SSH_FILEXFER_ATTR_EXTENDED;
  writer.writeUint32(flags >>> 0);
  if (size !== undefined) writer.writeUint64(BigInt(size));
  if (uid !== undefined && gid !== undefined) writer.writeUint32(uid).writeUint32(gid);
  if (permissions !== undefined) writer.writeUint32(permissions);
  if (atime !== undefined && mtime !== undefined) writer.writeUint32(atime).writeUint32(mtime);
  if (extended !== undefined && extended.length > 0) {
    writer.writeUint32(extended.length);
    for (const { type, data } of extended) writer.writeString(type).writeString(data);
  }
}
