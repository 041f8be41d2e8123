// RFC 6455 §5 frame codec: a bounds-checked view of frame bytes and the encoder, kept apart from
// the connection's state (socket.ts) and the incremental parser (parser.ts). Every refusal is a WebSocketProtocolError that names what was
// wrong and the close code the endpoint must send (§7.4.1), so the socket never has to guess.

/** Opcodes of RFC 6455 §5.2; every other value is reserved and refused. */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** Close codes this module sends (RFC 6455 §7.4.1). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  Unsupported: 1003,
  NoStatus: 1005,
  Abnormal: 1006,
  InvalidData: 1007,
  PolicyViolation: 1008,
  TooBig: 1009,
  InternalError: 1011,
} as const;

/** The peer broke RFC 6455; `closeCode` is the code to send in our Close frame. */
export class WebSocketProtocolError extends Error {
  override readonly name = "WebSocketProtocolError";
  constructor(
    message: string,
    /** 1002 (protocol), 1007 (invalid data, e.g. UTF-8) or 1009 (too big). */
    readonly closeCode: number,
  ) {
    super(message);
  }
}

/** One decoded frame; `payload` is already unmasked. */
export interface Frame {
  fin: boolean;
  /** The three RSV bits as a number (RSV1 = 4, RSV2 = 2, RSV3 = 1). */
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Uint8Array;
}

/** What a decoder accepts; both directions share the codec (tests decode what we encode). */
export interface FrameLimits {
  /** Frames from a server must be unmasked (false); frames from a client must be masked (true). */
  expectMasked: boolean;
  /** RSV bits a negotiated extension defined; 0 when none was negotiated (we offer none). */
  allowedRsv?: number;
  /** Largest payload accepted; larger is refused with 1009 before any of it is buffered. */
  maxPayload?: number;
}

/** A parsed frame header: lengths in bytes, payload not yet read. */
export interface FrameHeader {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  /** The 4-byte mask key, or undefined when unmasked. */
  maskKey: Uint8Array | undefined;
  payloadLength: number;
  headerLength: number;
}

/** Whether an opcode is a control frame's (§5.5). */
export function isControl(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

function knownOpcode(opcode: number): boolean {
  return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xa);
}

/**
 * Parses the header at `bytes[offset..]`. Returns null when more bytes are needed; throws a
 * WebSocketProtocolError as soon as the bytes present prove the header bad (the first two bytes
 * settle most refusals, so a hostile peer cannot make us wait for more).
 */
export function parseFrameHeader(
  bytes: Uint8Array,
  offset: number,
  limits: FrameLimits,
): FrameHeader | null {
  const avail = bytes.length - offset;
  if (avail < 2) return null;
  const b0 = bytes[offset]!;
  const b1 = bytes[offset + 1]!;
  const fin = (b0 & 0x80) !== 0;
  const rsv = (b0 >> 4) & 0x7;
  const opcode = b0 & 0x0f;
  const masked = (b1 & 0x80) !== 0;
  const len7 = b1 & 0x7f;
  if ((rsv & ~(limits.allowedRsv ?? 0)) !== 0) {
    throw new WebSocketProtocolError(
      `RSV bits 0x${rsv.toString(16)} set without an extension`,
      1002,
    );
  }
  if (!knownOpcode(opcode)) {
    throw new WebSocketProtocolError(`reserved opcode 0x${opcode.toString(16)}`, 1002);
  }
  if (isControl(opcode)) {
    if (!fin) throw new WebSocketProtocolError(`fragmented control frame (opcode ${opcode})`, 1002);
    if (len7 > 125) {
      throw new WebSocketProtocolError(
        `control frame longer than 125 bytes (opcode ${opcode})`,
        1002,
      );
    }
  }
  if (masked !== limits.expectMasked) {
    throw new WebSocketProtocolError(
      limits.expectMasked ? "unmasked frame from a client" : "masked frame from a server",
      1002,
    );
  }
  let pos = offset + 2;
  let payloadLength = len7;
  if (len7 === 126) {
    if (avail < 4) return null;
    payloadLength = (bytes[pos]! << 8) | bytes[pos + 1]!;
    pos += 2;
    if (payloadLength < 126) {
      throw new WebSocketProtocolError(`non-minimal 16-bit length ${payloadLength}`, 1002);
    }
  } else if (len7 === 127) {
    if (avail < 10) return null;
    const hi =
      ((bytes[pos]! << 24) | (bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!) >>>
      0;
    const lo =
      ((bytes[pos + 4]! << 24) |
        (bytes[pos + 5]! << 16) |
        (bytes[pos + 6]! << 8) |
        bytes[pos + 7]!) >>>
      0;
    pos += 8;
    if (hi >= 0x80000000)
      throw new WebSocketProtocolError("64-bit length with its top bit set", 1002);
    // Beyond 2^53 a number loses precision; such a frame is too big for any limit anyway.
    if (hi >= 0x200000) throw new WebSocketProtocolError("frame length beyond 2^53", 1009);
    payloadLength = hi * 0x100000000 + lo;
    if (payloadLength < 0x10000) {
      throw new WebSocketProtocolError(`non-minimal 64-bit length ${payloadLength}`, 1002);
    }
  }
  if (limits.maxPayload !== undefined && payloadLength > limits.maxPayload) {
    throw new WebSocketProtocolError(
      `frame of ${payloadLength} bytes exceeds the limit of ${limits.maxPayload}`,
      1009,
    );
  }
  let maskKey: Uint8Array | undefined;
  if (masked) {
    if (bytes.length - pos < 4) return null;
    maskKey = bytes.slice(pos, pos + 4);
    pos += 4;
  }
  return { fin, rsv, opcode, masked, maskKey, payloadLength, headerLength: pos - offset };
}

/** XORs `data` with the mask key into `out` (which may be `data`), starting at key byte `phase`. */
export function applyMask(
  data: Uint8Array,
  key: Uint8Array,
  out: Uint8Array = data,
  phase = 0,
): void {
  const k0 = key[phase & 3]!;
  const k1 = key[(phase + 1) & 3]!;
  const k2 = key[(phase + 2) & 3]!;
  const k3 = key[(phase + 3) & 3]!;
  const n = data.length;
  const whole = n & ~3;
  let i = 0;
  for (; i < whole; i += 4) {
    out[i] = data[i]! ^ k0;
    out[i + 1] = data[i + 1]! ^ k1;
    out[i + 2] = data[i + 2]! ^ k2;
    out[i + 3] = data[i + 3]! ^ k3;
  }
  const ks = [k0, k1, k2, k3];
  for (; i < n; i++) out[i] = data[i]! ^ ks[i & 3]!;
}

/** A frame to encode. */
export interface FrameToEncode {
  opcode: number;
  payload: Uint8Array;
  /** Default true. */
  fin?: boolean;
  rsv?: number;
  /** A 4-byte key masks the payload (clients must); undefined sends it unmasked. */
  maskKey?: Uint8Array;
}

/**
 * Encodes one frame with the minimal length form, into a fresh buffer (the payload is copied,
 * masked when a key is given, so the caller's bytes are never changed). Throws RangeError for
 * frames RFC 6455 forbids us to send: those are our bugs, not the peer's.
 */
export function encodeFrame(frame: FrameToEncode): Uint8Array {
  const { opcode, payload } = frame;
  const fin = frame.fin ?? true;
  const rsv = frame.rsv ?? 0;
  if (!knownOpcode(opcode)) throw new RangeError(`reserved opcode ${opcode}`);
  if (rsv < 0 || rsv > 7) throw new RangeError(`RSV ${rsv} out of range`);
  if (isControl(opcode) && (!fin || payload.length > 125)) {
    throw new RangeError("control frames must be final and at most 125 bytes");
  }
  if (frame.maskKey !== undefined && frame.maskKey.length !== 4) {
    throw new RangeError("mask key must be 4 bytes");
  }
  const n = payload.length;
  const extra = n < 126 ? 0 : n < 0x10000 ? 2 : 8;
  const maskLen = frame.maskKey === undefined ? 0 : 4;
  const headerLength = 2 + extra + maskLen;
  const out = new Uint8Array(headerLength + n);
  out[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  const maskBit = maskLen === 4 ? 0x80 : 0;
  if (extra === 0) {
    out[1] = maskBit | n;
  } else if (extra === 2) {
    out[1] = maskBit | 126;
    out[2] = n >>> 8;
    out[3] = n & 0xff;
  } else {
    out[1] = maskBit | 127;
    const hi = Math.floor(n / 0x100000000);
    const view = new DataView(out.buffer);
    view.setUint32(2, hi);
    view.setUint32(6, n >>> 0);
  }
  if (frame.maskKey !== undefined) {
    out.set(frame.maskKey, 2 + extra);
    applyMask(payload, frame.maskKey, out.subarray(headerLength));
  } else {
    out.set(payload, headerLength);
  }
  return out;
}

/** A Close frame's body (§5.5.1): code absent means 1005 to the application. */
export interface ClosePayload {
  code: number | undefined;
  reason: string;
}

/** Whether a peer may send `code` in a Close frame (§7.4: 1004-1006 and 1015 never appear). */
export function isValidReceivedCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decodes a received Close payload; a 1-byte body, a bad code or a non-UTF-8 reason is refused. */
export function parseClosePayload(payload: Uint8Array): ClosePayload {
  if (payload.length === 0) return { code: undefined, reason: "" };
  if (payload.length === 1)
    throw new WebSocketProtocolError("close frame with a 1-byte body", 1002);
  const code = (payload[0]! << 8) | payload[1]!;
  if (!isValidReceivedCloseCode(code)) {
    throw new WebSocketProtocolError(`close code ${code} is not one a peer may send`, 1002);
  }
  let reason: string;
  try {
    reason = strictUtf8.decode(payload.subarray(2));
  } catch {
    throw new WebSocketProtocolError("close reason is not valid UTF-8", 1007);
  }
  return { code, reason };
}

/** Encodes a Close body: code then UTF-8 reason; no code gives an empty body. */
export function encodeClosePayload(code: number | undefined, reason = ""): Uint8Array {
  if (code === undefined) return new Uint8Array(0);
  const text = new TextEncoder().encode(reason);
  if (text.length > 123) throw new RangeError("close reason longer than 123 bytes of UTF-8");
  const out = new Uint8Array(2 + text.length);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}
