// SSH data types (RFC 4251 §5): a bounds-checked reader over a byte view and a growable
// writer. Every read of hostile bytes either succeeds or throws SshProtocolError, naming the
// field and the offset; nothing ever reads past the end of the view.

/** A malformed SSH message: the only error SshReader throws. */
export class SshProtocolError extends Error {
  override readonly name = "SshProtocolError";

  constructor(
    message: string,
    /** The field being read, when the error came from a read. */
    readonly field?: string,
    /** The offset in the reader's view where that field starts. */
    readonly offset?: number,
  ) {
    super(message);
  }
}

const UTF8_DECODER = new TextDecoder("utf-8", { fatal: true });
const UTF8_ENCODER = new TextEncoder();
const U32_MAX = 0xffffffff;
const U64_MAX = (1n << 64n) - 1n;

/** Whether `byte` may appear in a name of a name-list: printable US-ASCII except the comma. */
function isNameByte(byte: number): boolean {
  return byte > 0x20 && byte < 0x7f && byte !== 0x2c;
}

/** Reads RFC 4251 data types from a byte view, each read bounds-checked. */
export class SshReader {
  private pos = 0;
  private readonly view: DataView;

  /** Reads `bytes` from its start; views returned by reads share its memory. */
  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Offset of the next read. */
  get offset(): number {
    return this.pos;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  /** Throws unless every byte has been read (trailing data in a message). */
  expectEnd(what = "message"): void {
    if (this.remaining !== 0) {
      throw new SshProtocolError(
        `${what}: ${this.remaining} unexpected trailing bytes at offset ${this.pos}`,
        what,
        this.pos,
      );
    }
  }

  private need(field: string, n: number): number {
    const at = this.pos;
    if (n > this.bytes.length - at) {
      throw new SshProtocolError(
        `${field}: needs ${n} bytes at offset ${at}, only ${this.bytes.length - at} left`,
        field,
        at,
      );
    }
    this.pos = at + n;
    return at;
  }

  /** A single byte. */
  readByte(field = "byte"): number {
    return this.bytes[this.need(field, 1)]!;
  }

  /** A boolean: any non-zero byte is true (RFC 4251 §5). */
  readBoolean(field = "boolean"): boolean {
    return this.readByte(field) !== 0;
  }

  /** A big-endian uint32. */
  readUint32(field = "uint32"): number {
    return this.view.getUint32(this.need(field, 4), false);
  }

  /** A big-endian uint64, as a bigint. */
  readUint64(field = "uint64"): bigint {
    return this.view.getBigUint64(this.need(field, 8), false);
  }

  /** `n` raw bytes (a view, not a copy). */
  readRaw(n: number, field = "bytes"): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new SshProtocolError(
        `${field}: bad length ${n} at offset ${this.pos}`,
        field,
        this.pos,
      );
    }
    const at = this.need(field, n);
    return this.bytes.subarray(at, at + n);
  }

  /** A string: uint32 length, then that many bytes (a view, not a copy). */
  readString(field = "string"): Uint8Array {
    const start = this.pos;
    const length = this.readUint32(field);
    if (length > this.bytes.length - this.pos) {
      this.pos = start;
      throw new SshProtocolError(
        `${field}: length ${length} at offset ${start} exceeds the ${this.bytes.length - start - 4} bytes left`,
        field,
        start,
      );
    }
    const at = this.pos;
    this.pos += length;
    return this.bytes.subarray(at, at + length);
  }

  /** A string holding valid UTF-8 text. */
  readUtf8(field = "utf8 string"): string {
    const start = this.pos;
    const raw = this.readString(field);
    try {
      return UTF8_DECODER.decode(raw);
    } catch {
      this.pos = start;
      throw new SshProtocolError(`${field}: invalid UTF-8 at offset ${start}`, field, start);
    }
  }

  /**
   * An mpint: two's complement big-endian bytes (a view; empty for zero). Encodings with an
   * unnecessary leading 0x00 or 0xff byte are rejected (RFC 4251 §5).
   */
  readMpint(field = "mpint"): Uint8Array {
    const start = this.pos;
    const raw = this.readString(field);
    const first = raw[0];
    const second = raw[1];
    if (
      first !== undefined &&
      ((first === 0x00 && (second === undefined || second < 0x80)) ||
        (first === 0xff && second !== undefined && second >= 0x80))
    ) {
      this.pos = start;
      throw new SshProtocolError(
        `${field}: non-minimal mpint encoding at offset ${start}`,
        field,
        start,
      );
    }
    return raw;
  }

  /** An mpint as a bigint (negative values included). */
  readMpintBigInt(field = "mpint"): bigint {
    return mpintToBigInt(this.readMpint(field));
  }

  /**
   * A name-list: comma-separated, non-empty names of printable US-ASCII without commas
   * (RFC 4251 §5). An empty string is the empty list.
   */
  readNameList(field = "name-list"): string[] {
    const start = this.pos;
    const raw = this.readString(field);
    if (raw.length === 0) return [];
    const names: string[] = [];
    let from = 0;
    for (let i = 0; i <= raw.length; i++) {
      const byte = i < raw.length ? raw[i]! : 0x2c;
      if (byte === 0x2c) {
        if (i === from) {
          this.pos = start;
          throw new SshProtocolError(
            `${field}: empty name at offset ${start + 4 + from}`,
            field,
            start,
          );
        }
        names.push(String.fromCharCode(...raw.subarray(from, i)));
        from = i + 1;
      } else if (!isNameByte(byte)) {
        this.pos = start;
        throw new SshProtocolError(
          `${field}: byte 0x${byte.toString(16).padStart(2, "0")} not allowed in a name at offset ${start + 4 + i}`,
          field,
          start,
        );
      }
    }
    return names;
  }
}

/** The value of a two's complement big-endian byte string (empty is zero). */
export function mpintToBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  if (bytes.length > 0 && bytes[0]! >= 0x80) value -= 1n << BigInt(bytes.length * 8);
  return value;
}

/** Writes RFC 4251 data types into a buffer that grows as needed. */
export class SshWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  /** Starts with room for `capacity` bytes. */
  constructor(capacity = 256) {
    this.buf = new Uint8Array(Math.max(16, capacity));
    this.view = new DataView(this.buf.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  /** Makes room for `n` bytes and returns where they go; may replace buf and view. */
  private reserve(n: number): number {
    const at = this.pos;
    if (at + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < at + n) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.buf.subarray(0, at));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    this.pos = at + n;
    return at;
  }

  /** A copy of the bytes written. */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  /** A single byte (0..255). */
  writeByte(value: number): this {
    checkInt("byte", value, 0xff);
    const at = this.reserve(1);
    this.buf[at] = value;
    return this;
  }

  /** A boolean as 0 or 1. */
  writeBoolean(value: boolean): this {
    return this.writeByte(value ? 1 : 0);
  }

  /** A big-endian uint32. */
  writeUint32(value: number): this {
    checkInt("uint32", value, U32_MAX);
    const at = this.reserve(4);
    this.view.setUint32(at, value, false);
    return this;
  }

  /** A big-endian uint64. */
  writeUint64(value: bigint): this {
    if (value < 0n || value > U64_MAX) throw new RangeError(`uint64: ${value} out of range`);
    const at = this.reserve(8);
    this.view.setBigUint64(at, value, false);
    return this;
  }

  /** Raw bytes, without a length. */
  writeRaw(bytes: Uint8Array): this {
    const at = this.reserve(bytes.length);
    this.buf.set(bytes, at);
    return this;
  }

  /** A string: uint32 length then the bytes; a JS string is written as UTF-8. */
  writeString(value: Uint8Array | string): this {
    const bytes = typeof value === "string" ? UTF8_ENCODER.encode(value) : value;
    this.writeUint32(bytes.length);
    return this.writeRaw(bytes);
  }

  /** An mpint from two's complement big-endian bytes, re-encoded minimally. */
  writeMpint(twosComplement: Uint8Array): this {
    let start = 0;
    while (start < twosComplement.length) {
      const b = twosComplement[start]!;
      const next = twosComplement[start + 1];
      if (b === 0x00 && (next === undefined || next < 0x80)) start++;
      else if (b === 0xff && next !== undefined && next >= 0x80) start++;
      else break;
    }
    return this.writeString(twosComplement.subarray(start));
  }

  /** An mpint from an unsigned big-endian magnitude (e.g. a DH shared secret). */
  writeMpintUnsigned(magnitude: Uint8Array): this {
    let start = 0;
    while (start < magnitude.length && magnitude[start] === 0) start++;
    const digits = magnitude.subarray(start);
    const pad = digits.length > 0 && digits[0]! >= 0x80 ? 1 : 0;
    this.writeUint32(digits.length + pad);
    if (pad) this.writeByte(0);
    return this.writeRaw(digits);
  }

  /** An mpint from a bigint. */
  writeMpintBigInt(value: bigint): this {
    if (value === 0n) return this.writeUint32(0);
    let bits = 8;
    // Smallest byte count whose two's complement range holds value.
    while (value >= 1n << BigInt(bits - 1) || value < -(1n << BigInt(bits - 1))) bits += 8;
    const n = bits / 8;
    let v = value < 0n ? value + (1n << BigInt(bits)) : value;
    const out = new Uint8Array(n);
    for (let i = n - 1; i >= 0; i--) {
      out[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return this.writeString(out);
  }

  /** A name-list; each name must be non-empty printable US-ASCII without commas. */
  writeNameList(names: readonly string[]): this {
    for (const name of names) {
      if (name.length === 0) throw new RangeError("name-list: empty name");
      for (let i = 0; i < name.length; i++) {
        if (!isNameByte(name.charCodeAt(i))) {
          throw new RangeError(`name-list: bad character in name ${JSON.stringify(name)}`);
        }
      }
    }
    return this.writeString(names.join(","));
  }
}

function checkInt(what: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${what}: ${value} out of range 0..${max}`);
  }
}
