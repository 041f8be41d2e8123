// The transfer port's decoder (worker/engine/transfer-port.ts) against hostile messages: the
// known shapes decode to fresh objects with only their fields; a seeded fuzz of 20,000 random
// values (objects with random fields, wrong types, huge numbers, big buffers) either decodes to a
// valid TransferMessage or throws TransferPortError, never anything else. Also the send window's
// backpressure and the upload stream's acks, cancel and malformed input, over a real
// MessageChannel.

import { describe, expect, it } from "vitest";
import { TRANSFER_MAX_CHUNK, type TransferMessage } from "../../worker/api.ts";
import {
  decodeTransferMessage,
  SendWindow,
  TransferCancelled,
  TransferPortError,
  uploadSource,
} from "../../worker/engine/transfer-port.ts";
import { seededInts } from "../helpers/seeded.ts";

const FUZZ_INPUTS = 20_000;

function valid(m: TransferMessage): boolean {
  switch (m.type) {
    case "data":
      return m.data instanceof Uint8Array && m.data.length <= TRANSFER_MAX_CHUNK;
    case "ack":
    case "done":
      return Number.isSafeInteger(m.bytes) && m.bytes >= 0;
    case "end":
      return Object.keys(m).length === 1;
    case "cancel":
      return typeof m.reason === "string" && m.reason.length <= 4096;
    case "error":
      return typeof m.message === "string" && m.message.length <= 4096;
  }
}

describe("decodeTransferMessage", () => {
  it("decodes the known shapes and drops extra fields", () => {
    const data = new Uint8Array([1, 2, 3]);
    expect(decodeTransferMessage({ type: "data", data, extra: 1 })).toEqual({ type: "data", data });
    expect(decodeTransferMessage({ type: "ack", bytes: 5 })).toEqual({ type: "ack", bytes: 5 });
    expect(decodeTransferMessage({ type: "end", junk: "x" })).toEqual({ type: "end" });
    expect(decodeTransferMessage({ type: "cancel" })).toEqual({ type: "cancel", reason: "" });
    expect(decodeTransferMessage({ type: "error", message: "m" })).toEqual({
      type: "error",
      message: "m",
    });
  });

  it("names what was wrong", () => {
    expect(() => decodeTransferMessage(null)).toThrow(/not an object/);
    expect(() => decodeTransferMessage({ type: "ack", bytes: -1 })).toThrow(
      /ack bytes is not a non-negative integer/,
    );
    expect(() => decodeTransferMessage({ type: "data", data: [1] })).toThrow(/not a Uint8Array/);
    expect(() =>
      decodeTransferMessage({ type: "data", data: new Uint8Array(TRANSFER_MAX_CHUNK + 1) }),
    ).toThrow(/exceeds/);
    expect(() => decodeTransferMessage({ type: "boom" })).toThrow(/unknown type "boom"/);
  });

  it(`survives ${FUZZ_INPUTS} seeded hostile values`, () => {
    const rand = seededInts(0x7f11e5);
    const types = ["data", "ack", "end", "done", "cancel", "error", "", "DATA", 7, null];
    const anyValue = (depth: number): unknown => {
      switch (rand(12)) {
        case 0:
          return undefined;
        case 1:
          return null;
        case 2:
          return rand(2) === 0 ? rand(1 << 30) : -rand(1000);
        case 3:
          return [Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60, 1.5, -0][rand(5)];
        case 4:
          return "x".repeat(rand(6000));
        case 5:
          return new Uint8Array(rand(3) === 0 ? TRANSFER_MAX_CHUNK + rand(10) : rand(64));
        case 6:
          return new ArrayBuffer(rand(16));
        case 7:
          return depth > 2 ? {} : { type: types[rand(types.length)], data: anyValue(depth + 1) };
        case 8:
          return [anyValue(depth + 1)];
        case 9:
          return BigInt(rand(100));
        case 10:
          return true;
        default:
          return Symbol.for("s");
      }
    };
    let decoded = 0;
    for (let i = 0; i < FUZZ_INPUTS; i++) {
      const value =
        rand(4) === 0
          ? anyValue(0)
          : {
              type: types[rand(types.length)],
              data: anyValue(1),
              bytes: anyValue(1),
              reason: anyValue(1),
              message: anyValue(1),
            };
      try {
        const m = decodeTransferMessage(value);
        expect(valid(m)).toBe(true);
        decoded++;
      } catch (error) {
        if (!(error instanceof TransferPortError)) throw error;
      }
    }
    // Both outcomes occur: the fuzz reaches the decoder's accepting paths too.
    expect(decoded).toBeGreaterThan(100);
    expect(decoded).toBeLessThan(FUZZ_INPUTS);
  });
});

describe("SendWindow", () => {
  it("waits while the window is full and resumes on acks", async () => {
    const window = new SendWindow(100);
    window.sent(100);
    let resumed = false;
    const waiting = window.room().then(() => (resumed = true));
    await Promise.resolve();
    expect(resumed).toBe(false);
    window.ack(1);
    await waiting;
    expect(resumed).toBe(true);
  });
});

describe("stalls", () => {
  it("a send window without acks for its stall time rejects", async () => {
    const window = new SendWindow(10, 30);
    window.sent(10);
    await expect(window.room()).rejects.toThrow(/acknowledged nothing for 0.03 s/);
  });

  it("an upload whose page sends nothing for its stall time errors", async () => {
    const channel = new MessageChannel();
    const source = uploadSource(channel.port2, 30);
    await expect(source.stream.getReader().read()).rejects.toThrow(/sent nothing for 0.03 s/);
    channel.port1.close();
    channel.port2.close();
  });
});

describe("uploadSource", () => {
  it("acks each chunk as the reader takes it and closes at end", async () => {
    const channel = new MessageChannel();
    const acks: number[] = [];
    channel.port1.onmessage = (event: MessageEvent<TransferMessage>) => {
      if (event.data.type === "ack") acks.push(event.data.bytes);
    };
    const source = uploadSource(channel.port2);
    channel.port1.postMessage({ type: "data", data: new Uint8Array(10) });
    channel.port1.postMessage({ type: "data", data: new Uint8Array(0) });
    channel.port1.postMessage({ type: "data", data: new Uint8Array(20) });
    channel.port1.postMessage({ type: "end" });
    const reader = source.stream.getReader();
    expect((await reader.read()).value?.length).toBe(10);
    expect((await reader.read()).value?.length).toBe(20);
    expect((await reader.read()).done).toBe(true);
    await new Promise<void>((resolve) => {
      const check = () => (acks.length === 2 ? resolve() : setTimeout(check, 5));
      check();
    });
    expect(acks).toEqual([10, 20]);
    channel.port1.close();
    channel.port2.close();
  });

  it("errors the stream on cancel and on a malformed message", async () => {
    for (const bad of [
      { type: "cancel", reason: "stop" },
      { type: "data", data: "no" },
    ]) {
      const channel = new MessageChannel();
      const source = uploadSource(channel.port2);
      channel.port1.postMessage(bad);
      await expect(source.stream.getReader().read()).rejects.toBeInstanceOf(TransferCancelled);
      channel.port1.close();
      channel.port2.close();
    }
    const channel = new MessageChannel();
    const source = uploadSource(channel.port2);
    source.cancel("engine side");
    await expect(source.stream.getReader().read()).rejects.toThrow(/engine side/);
    channel.port2.close();
  });
});
