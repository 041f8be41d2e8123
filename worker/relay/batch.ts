// Several data frames in one WebSocket message (DESIGN §4 allows it as new frame types once a
// benchmark shows the gain; bench:web did: Chromium spends ~60 µs per WebSocket message in its
// network service and again on the renderer's IO thread, and the relay one event-loop write per
// message, so one message per ~1.4 KB WireGuard packet was most of the cost of a download).
//
//   FEATURES (0x04, client → relay): u32 flags. FEATURE_BATCH: "send me BATCH messages". A
//     client sends it only after a WELCOME whose JSON lists "batch" in `features`: a relay
//     that predates batches ignores types it does not know (the v1 rule), so it would drop
//     the packets inside a BATCH without a word; likewise a relay sends BATCH only to a client
//     that asked, because an older client would ignore it and lose the packets inside.
//   BATCH (0x18, both ways): repeated (u16 length, frame), each frame a whole SEND, RECV,
//     SEND_UDP or RECV_UDP frame as it would travel alone. Nothing else nests (no BATCH in a
//     BATCH, no control frames), and the whole message stays within MAX_BATCH_MESSAGE, the
//     relay's largest single frame, so no limit anywhere changes.

/** FEATURES: the client's u32 feature flags (client → relay). */
export const FEATURES = 0x04;
/** BATCH: several data frames in one message. */
export const BATCH = 0x18;
/** The FEATURES flag that asks the relay for BATCH messages. */
export const FEATURE_BATCH = 1;
/** The WELCOME `features` entry of a relay that accepts FEATURES and BATCH. */
export const WELCOME_FEATURE_BATCH = "batch";
/**
 * The largest BATCH message: the largest single relay frame (type, a 32-byte key, a 65535-byte
 * packet), which is the relay's WebSocket message limit.
 */
export const MAX_BATCH_MESSAGE = 1 + 32 + 65535;

/** Frame types a BATCH may carry: the data frames (frames.ts SEND, RECV, SEND_UDP, RECV_UDP). */
const BATCHABLE = new Set([0x10, 0x11, 0x12, 0x13]);

/** Whether `frame` may travel inside a BATCH. */
export function batchable(frame: Uint8Array): boolean {
  return frame.length > 0 && frame.length <= 0xffff && BATCHABLE.has(frame[0]!);
}

/** FEATURES with `flags` (a u32). */
export function encodeFeatures(flags: number): Uint8Array {
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) {
    throw new RangeError(`feature flags ${flags} are not a u32`);
  }
  const out = new Uint8Array(5);
  out[0] = FEATURES;
  new DataView(out.buffer).setUint32(1, flags);
  return out;
}

/**
 * The frames of a BATCH payload (the bytes after the type), as views into it; or a string
 * saying what is wrong (where, and why). Never throws.
 */
export function decodeBatch(body: Uint8Array): Uint8Array[] | string {
  if (body.length + 1 > MAX_BATCH_MESSAGE) {
    return `BATCH: ${body.length + 1} bytes, over ${MAX_BATCH_MESSAGE}`;
  }
  const frames: Uint8Array[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 2) return `BATCH: a length cut short at byte ${at + 1}`;
    const length = (body[at]! << 8) | body[at + 1]!;
    at += 2;
    if (length === 0) return `BATCH: frame ${frames.length + 1} is empty`;
    if (length > body.length - at) {
      return `BATCH: frame ${frames.length + 1} claims ${length} bytes, ${body.length - at} left`;
    }
    const frame = body.subarray(at, at + length);
    if (!BATCHABLE.has(frame[0]!)) {
      return `BATCH: frame ${frames.length + 1} has type 0x${frame[0]!.toString(16).padStart(2, "0")}, not a data frame`;
    }
    frames.push(frame);
    at += length;
  }
  if (frames.length === 0) return "BATCH: no frames";
  return frames;
}

/**
 * Collects data frames for one message. `add` refuses a frame that would overflow the message
 * (the caller sends what it has first); `take` returns the message: a lone frame as itself,
 * several as one BATCH.
 */
export class FrameBatch {
  private frames: Uint8Array[] = [];
  private size = 1;

  /** Frames collected. */
  get count(): number {
    return this.frames.length;
  }

  /** Bytes of the frames collected (without the BATCH framing). */
  get bytes(): number {
    return this.size - 1 - 2 * this.frames.length;
  }

  /** Adds a batchable frame; false when it would not fit with those already here. */
  add(frame: Uint8Array): boolean {
    if (!batchable(frame)) throw new RangeError("only a data frame of <= 65535 bytes batches");
    if (this.size + 2 + frame.length > MAX_BATCH_MESSAGE) return false;
    this.frames.push(frame);
    this.size += 2 + frame.length;
    return true;
  }

  /** The frames collected, as they were added, and an empty batch again. */
  takeFrames(): Uint8Array[] {
    const frames = this.frames;
    this.frames = [];
    this.size = 1;
    return frames;
  }

  /** The message for what was collected (undefined when empty), and an empty batch again. */
  take(): Uint8Array | undefined {
    const frames = this.frames;
    this.frames = [];
    const size = this.size;
    this.size = 1;
    if (frames.length <= 1) return frames[0];
    const out = new Uint8Array(size);
    out[0] = BATCH;
    let at = 1;
    for (const frame of frames) {
      out[at] = frame.length >> 8;
      out[at + 1] = frame.length & 0xff;
      out.set(frame, at + 2);
      at += 2 + frame.length;
    }
    return out;
  }
}
