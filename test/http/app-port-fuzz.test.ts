// Seeded fuzz of the app port protocol's checks (worker/http/app-port.ts): parseAppPortMessage
// and parseSocketCommand take anything an app origin may post. Valid messages are mutated one
// field at a time (wrong types, CR/LF in headers, oversized strings, bad ids, foreign shapes)
// and random values are thrown in. Whatever the input: the parser returns a message that
// satisfies the contract's bounds or throws AppPortProtocolError naming a part, and the error
// carries the input's id exactly when that id was valid.

import { expect, it } from "vitest";
import {
  APP_PORT_LIMITS,
  AppPortProtocolError,
  parseAppPortMessage,
  parseSocketCommand,
} from "../../worker/http/app-port.ts";
import { seededInts } from "../helpers/seeded.ts";

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const ORIGIN = "http://web-01--3000.corridor.localhost:8080";

type Rand = (bound: number) => number;

function junkString(rand: Rand): string {
  const pieces = ["a", "GET", "\r\n", "\0", "é", "日本", " ", ":", ";", "=", "\t", "\u2028", "%"];
  const kind = rand(6);
  if (kind === 0) return "";
  if (kind === 1) return "x".repeat(APP_PORT_LIMITS.url + rand(3) - 1);
  if (kind === 2) return "y".repeat(APP_PORT_LIMITS.headerValue + rand(3) - 1);
  let s = "";
  const n = rand(12);
  for (let i = 0; i < n; i++) s += pieces[rand(pieces.length)];
  return s;
}

function junk(rand: Rand, depth = 0): unknown {
  switch (rand(depth > 2 ? 9 : 12)) {
    case 0:
      return undefined;
    case 1:
      return null;
    case 2:
      return [0, 1, -1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER, 2 ** 53, -0, Infinity][rand(9)];
    case 3:
      return rand(2) === 0;
    case 4:
    case 5:
      return junkString(rand);
    case 6:
      return new ArrayBuffer(rand(4) === 0 ? APP_PORT_LIMITS.socketMessage + 1 : rand(64));
    case 7:
      return new Uint8Array(rand(16));
    case 8:
      return new ReadableStream();
    case 9:
      return Array.from({ length: rand(4) }, () => junk(rand, depth + 1));
    case 10:
      return Array.from({ length: rand(3) }, () => [junkString(rand), junkString(rand)]);
    default: {
      const out: Record<string, unknown> = {};
      for (let i = rand(4); i > 0; i--) {
        out[["type", "id", "url", "headers", "body", "port", "data"][rand(7)]!] = junk(
          rand,
          depth + 1,
        );
      }
      return out;
    }
  }
}

function validMessage(rand: Rand, port: MessagePort): Record<string, unknown> {
  const id = 1 + rand(1000);
  switch (rand(6)) {
    case 0:
      return {
        type: "fetch",
        id,
        method: ["GET", "POST", "PUT", "X-CUSTOM"][rand(4)],
        url: `${ORIGIN}/p?${rand(100)}`,
        headers: [
          ["Accept", "*/*"],
          ["X-A", "b"],
        ],
        body: rand(2) === 0 ? null : new ReadableStream(),
        navigate: rand(2) === 0,
        referrer: "",
      };
    case 1:
      return { type: "abort", id };
    case 2:
      return { type: "websocket", url: `ws${ORIGIN.slice(4)}/ws`, protocols: ["a", "b.c"], port };
    case 3:
      return { type: "cookie-get", id, url: `${ORIGIN}/` };
    case 4:
      return { type: "cookie-set", url: `${ORIGIN}/`, value: "a=b; path=/" };
    default:
      return { type: "credentials", id, username: "ann", password: "pw" };
  }
}

function mutate(rand: Rand, message: Record<string, unknown>): unknown {
  const out: Record<string, unknown> = { ...message };
  const keys = Object.keys(out);
  for (let n = 1 + rand(2); n > 0; n--) {
    const what = rand(6);
    const key = keys[rand(keys.length)]!;
    if (what === 0) delete out[key];
    else if (what === 1 && Array.isArray(out.headers)) {
      out.headers = [...(out.headers as unknown[]), [junkString(rand), junkString(rand)]];
    } else if (what === 2) out[["extra", "__proto__", "constructor"][rand(3)]!] = junk(rand);
    else out[key] = junk(rand);
  }
  return rand(20) === 0 ? [out] : out;
}

function validId(data: unknown): number | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const id = (data as { id?: unknown }).id;
  return typeof id === "number" && Number.isSafeInteger(id) && id >= 1 ? id : undefined;
}

function checkAccepted(m: ReturnType<typeof parseAppPortMessage>): void {
  if ("id" in m) expect(Number.isSafeInteger(m.id) && m.id >= 1).toBe(true);
  if ("url" in m) expect(m.url.length).toBeLessThanOrEqual(APP_PORT_LIMITS.url);
  if (m.type === "fetch") {
    expect(m.method).toMatch(TOKEN);
    expect(m.headers.length).toBeLessThanOrEqual(APP_PORT_LIMITS.headers);
    for (const [name, value] of m.headers) {
      expect(name).toMatch(TOKEN);
      expect(/[\r\n\0]/.test(value)).toBe(false);
    }
    expect(m.body === null || m.body instanceof ReadableStream).toBe(true);
  }
  if (m.type === "websocket") expect(m.port).toBeInstanceOf(MessagePort);
  if (m.type === "credentials") expect(m.username.includes(":")).toBe(false);
}

it("parseAppPortMessage: 12,000 seeded hostile messages, each accepted within bounds or refused naming a part", () => {
  const rand = seededInts(0x16a9);
  const channel = new MessageChannel();
  let accepted = 0;
  let refused = 0;
  const total = 12_000;
  for (let i = 0; i < total; i++) {
    const input = rand(5) === 0 ? junk(rand) : mutate(rand, validMessage(rand, channel.port1));
    try {
      checkAccepted(parseAppPortMessage(input));
      accepted++;
    } catch (error) {
      if (!(error instanceof AppPortProtocolError)) throw error;
      expect(error.field.length).toBeGreaterThan(0);
      expect(error.id).toBe(validId(input));
      refused++;
    }
  }
  // Unmutated valid messages are all accepted.
  for (let i = 0; i < 600; i++)
    checkAccepted(parseAppPortMessage(validMessage(rand, channel.port1)));
  channel.port1.close();
  console.log(`app port fuzz: ${total} messages, ${accepted} accepted, ${refused} refused`);
  expect(accepted).toBeGreaterThan(100);
  expect(refused).toBeGreaterThan(total / 2);
});

it("parseSocketCommand: 10,000 seeded hostile commands", () => {
  const rand = seededInts(0x50c4);
  let accepted = 0;
  const total = 10_000;
  for (let i = 0; i < total; i++) {
    const base: Record<string, unknown> =
      rand(2) === 0
        ? { type: "send", data: rand(2) === 0 ? "hi" : new ArrayBuffer(8) }
        : { type: "close", code: [1000, 3000, 4999, 1001, 1005, 5000, 2999][rand(7)], reason: "r" };
    const input = rand(4) === 0 ? junk(rand) : mutate(rand, base);
    try {
      const command = parseSocketCommand(input);
      accepted++;
      if (command.type === "send") {
        const size =
          typeof command.data === "string" ? command.data.length : command.data.byteLength;
        expect(size).toBeLessThanOrEqual(APP_PORT_LIMITS.socketMessage);
      } else {
        const code = command.code;
        expect(code === undefined || code === 1000 || (code >= 3000 && code <= 4999)).toBe(true);
        expect(new TextEncoder().encode(command.reason ?? "").length).toBeLessThanOrEqual(123);
      }
    } catch (error) {
      if (!(error instanceof AppPortProtocolError)) throw error;
    }
  }
  console.log(`socket command fuzz: ${total} commands, ${accepted} accepted`);
  expect(accepted).toBeGreaterThan(100);
});
