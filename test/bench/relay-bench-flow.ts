// The windowed one-way flow of the relay benchmark (sections (a) and (c)): A sends SEND frames
// of PACKET-byte packets, keeping at most WINDOW in flight (counted at B), and B checks every
// one (order, key, bytes). Also the anchor forwarder's client.

import WebSocket from "ws";

/** Packet bytes per frame, and the frame: type, key, packet. */
export const PACKET = 1420;
export const FRAME = 1 + 32 + PACKET;
/** Frames in flight. */
export const WINDOW = 256;
/** No progress for this long fails the run. */
const STALL_MS = 3000;

/** A correctness failure: report and exit non-zero. */
function fail(message: string): never {
  console.error(`relay bench: FAILED: ${message}`);
  process.exit(1);
}

/** A client of the anchor forwarder, as `id`, whose messages go to `to`. */
export function anchorClient(url: string, id: string, to: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?id=${id}&to=${to}`, { perMessageDeflate: false });
    ws.on("error", reject);
    ws.once("open", () => resolve(ws));
  });
}

/** A one-way flow from `src` to `dst`, every packet numbered and checked. */
export interface Flow {
  name: string;
  src: WebSocket;
  dst: WebSocket;
  /** The frame A sends (type, destination key, packet). */
  template: Buffer;
  /** The type byte B must see, and the key in bytes 1..33 (the source for RECV). */
  expectType: number;
  expectKey: Buffer;
  seq: number;
}

/**
 * Runs the flow for `ms` (then drains what is in flight) and returns packets/s. A gap, a
 * reordering, a wrong key or wrong bytes, or no progress for STALL_MS, fails the run.
 */
export function runFlow(flow: Flow, ms: number): Promise<{ packets: number; seconds: number }> {
  return new Promise((resolve) => {
    let sent = 0;
    let got = 0;
    let lastGot = 0;
    let lastProgress = performance.now();
    const start = performance.now();
    const stopAt = start + ms;
    const firstSeq = flow.seq;
    const { template, expectType, expectKey } = flow;
    let finished = false;
    const finish = () => {
      finished = true;
      clearInterval(watchdog);
      flow.dst.off("message", onMessage);
      flow.seq = firstSeq + sent;
      resolve({ packets: got, seconds: (performance.now() - start) / 1000 });
    };
    const pump = () => {
      if (finished) return;
      if (performance.now() >= stopAt) {
        if (got === sent) finish();
        return;
      }
      while (sent - got < WINDOW) {
        const frame = Buffer.allocUnsafe(FRAME);
        template.copy(frame);
        frame.writeUInt32BE((firstSeq + sent) >>> 0, 33);
        sent++;
        flow.src.send(frame);
      }
    };
    const onMessage = (data: Buffer) => {
      const seq = (firstSeq + got) >>> 0;
      if (data.length !== FRAME) fail(`${flow.name}: frame of ${data.length} bytes, want ${FRAME}`);
      if (data[0] !== expectType) fail(`${flow.name}: frame type ${data[0]}, want ${expectType}`);
      if (expectKey.compare(data, 1, 33) !== 0) fail(`${flow.name}: wrong key in frame`);
      const at = data.readUInt32BE(33);
      if (at !== seq) fail(`${flow.name}: packet ${at} arrived, want ${seq} (lost or reordered)`);
      if (template.compare(data, 37, FRAME, 37, FRAME) !== 0)
        fail(`${flow.name}: packet ${seq} corrupted`);
      got++;
      pump();
    };
    const watchdog = setInterval(() => {
      if (got !== lastGot) {
        lastGot = got;
        lastProgress = performance.now();
      } else if (performance.now() - lastProgress > STALL_MS) {
        fail(`${flow.name}: no progress for ${STALL_MS} ms with ${sent - got} frames in flight`);
      }
    }, 250);
    flow.dst.on("message", onMessage);
    pump();
  });
}

/** The median of `values`. */
export function median(values: number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
