// User authentication (RFC 4252) with the methods none, publickey (RFC 4252 §7, ssh-ed25519
// and ecdsa-sha2-nistp256 keys), keyboard-interactive (RFC 4256, prompts surfaced to the
// caller) and password (§8). Methods run in OpenSSH's order — publickey, keyboard-interactive,
// password — restricted to what the server says can continue, and a failure names every
// method tried and what the server accepts.

import { printableRemoteText, SshError } from "./errors.ts";
import { fingerprintSha256 } from "./fingerprint.ts";
import type { UserKey } from "./keys/user-key.ts";
import { MessageQueue } from "./message-queue.ts";
import {
  SSH_DISCONNECT,
  SSH_MSG_SERVICE_ACCEPT,
  SSH_MSG_SERVICE_REQUEST,
  SSH_MSG_USERAUTH_BANNER,
  SSH_MSG_USERAUTH_FAILURE,
  SSH_MSG_USERAUTH_INFO_REQUEST,
  SSH_MSG_USERAUTH_INFO_RESPONSE,
  SSH_MSG_USERAUTH_REQUEST,
  SSH_MSG_USERAUTH_SUCCESS,
} from "./messages.ts";
import type { SshTransport } from "./transport.ts";
import { SshProtocolError, SshReader, SshWriter } from "./wire.ts";

/** A keyboard-interactive round (RFC 4256 §3.2): show `prompts`, return one answer each. */
export interface InteractiveChallenge {
  name: string;
  instruction: string;
  prompts: { prompt: string; echo: boolean }[];
}

/** How to authenticate. Every callback may return null to skip or cancel its method. */
export interface AuthOptions {
  username: string;
  /** Keys to offer, in order. */
  keys?: readonly UserKey[];
  /** Asks for the password; `attempt` counts from 1. */
  password?: (attempt: number) => Promise<string | null> | string | null;
  /** Answers keyboard-interactive prompts. */
  keyboardInteractive?: (challenge: InteractiveChallenge) => Promise<string[] | null>;
  /** The server's pre-login banner (USERAUTH_BANNER), made printable. */
  onBanner?: (text: string) => void;
  /** Password and keyboard-interactive attempts before giving up (default 3). */
  maxAttempts?: number;
  /** How long to wait for each answer of the server (not for the person; default 30 s). */
  authResponseTimeoutMs?: number;
}

/** Authentication failed: every method was tried or refused. */
export class SshAuthError extends SshError {
  override readonly name = "SshAuthError";

  constructor(
    message: string,
    /** The methods the server said can continue. */
    readonly serverMethods: readonly string[],
    /** What we tried, e.g. "publickey ssh-ed25519 SHA256:…", "password". */
    readonly tried: readonly string[],
  ) {
    super(message, SSH_DISCONNECT.NO_MORE_AUTH_METHODS_AVAILABLE, "client");
  }
}

const SERVICE_USERAUTH = "ssh-userauth";
const SERVICE_CONNECTION = "ssh-connection";
const MAX_INTERACTIVE_ROUNDS = 32;
const MAX_PROMPTS = 64;

type Outcome = { ok: true } | { ok: false; methods: string[]; partial: boolean };

/**
 * Authenticates on an established transport; resolves once the server accepts. Afterwards
 * the connection layer takes the transport's messages (the queue's leftovers included).
 */
export async function authenticate(
  transport: SshTransport,
  options: AuthOptions,
): Promise<MessageQueue> {
  try {
    return await run(transport, options);
  } catch (error) {
    if (!(error instanceof SshProtocolError)) throw error;
    throw new SshError(`protocol error: ${error.message}`, SSH_DISCONNECT.PROTOCOL_ERROR, "client");
  }
}

async function run(transport: SshTransport, options: AuthOptions): Promise<MessageQueue> {
  const queue = new MessageQueue(transport);
  const tried: string[] = [];
  const user = options.username;
  const timeoutMs = options.authResponseTimeoutMs ?? 30_000;
  const next = async (): Promise<Uint8Array> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new SshError(
              `the server did not answer within ${timeoutMs} ms during authentication`,
              SSH_DISCONNECT.BY_APPLICATION,
              "client",
            ),
          ),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([queue.next(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
  const receive = async (): Promise<Uint8Array> => {
    for (;;) {
      const message = await next();
      if (message[0] !== SSH_MSG_USERAUTH_BANNER) return message;
      const r = new SshReader(message.subarray(1));
      options.onBanner?.(printableBanner(r.readUtf8("banner message")));
    }
  };
  const request = (method: string, body: (w: SshWriter) => void): Promise<void> => {
    const w = new SshWriter(256)
      .writeByte(SSH_MSG_USERAUTH_REQUEST)
      .writeString(user)
      .writeString(SERVICE_CONNECTION)
      .writeString(method);
    body(w);
    return transport.send(w.toBytes());
  };
  const outcome = async (): Promise<Outcome> => {
    const m = await receive();
    if (m[0] === SSH_MSG_USERAUTH_SUCCESS) return { ok: true };
    if (m[0] !== SSH_MSG_USERAUTH_FAILURE) {
      throw new SshProtocolError(`unexpected message ${m[0]} during authentication`);
    }
    const r = new SshReader(m.subarray(1));
    const methods = r.readNameList("authentications that can continue");
    return { ok: false, methods, partial: r.readBoolean("partial success") };
  };

  await transport.send(
    new SshWriter(32).writeByte(SSH_MSG_SERVICE_REQUEST).writeString(SERVICE_USERAUTH).toBytes(),
  );
  const accept = await receive();
  if (accept[0] !== SSH_MSG_SERVICE_ACCEPT) {
    throw new SshProtocolError(`expected SERVICE_ACCEPT, got message ${accept[0]}`);
  }

  await request("none", () => undefined);
  let result = await outcome();
  if (result.ok) return queue;
  let methods = result.methods;
  const maxAttempts = options.maxAttempts ?? 3;

  const keys = [...(options.keys ?? [])];
  let interactiveAttempts = 0;
  let passwordAttempts = 0;
  let interactiveDeclined = false;
  for (;;) {
    if (methods.includes("publickey") && keys.length > 0) {
      const key = keys.shift()!;
      tried.push(`publickey ${key.type} ${fingerprintSha256(key.publicBlob)}`);
      const blob = key.publicBlob;
      const signed = new SshWriter(512)
        .writeString(transport.sessionId)
        .writeByte(SSH_MSG_USERAUTH_REQUEST)
        .writeString(user)
        .writeString(SERVICE_CONNECTION)
        .writeString("publickey")
        .writeBoolean(true)
        .writeString(key.type)
        .writeString(blob)
        .toBytes();
      await request("publickey", (w) =>
        w.writeBoolean(true).writeString(key.type).writeString(blob).writeString(key.sign(signed)),
      );
      result = await outcome();
    } else if (
      methods.includes("keyboard-interactive") &&
      options.keyboardInteractive !== undefined &&
      !interactiveDeclined &&
      interactiveAttempts < maxAttempts
    ) {
      interactiveAttempts++;
      tried.push("keyboard-interactive");
      await request("keyboard-interactive", (w) => w.writeString("").writeString(""));
      const answered = await interactive(options.keyboardInteractive, receive, transport);
      if (answered === "declined") interactiveDeclined = true;
      result = answered === "declined" ? await outcome() : answered;
    } else if (
      methods.includes("password") &&
      options.password !== undefined &&
      passwordAttempts < maxAttempts
    ) {
      passwordAttempts++;
      const password = await options.password(passwordAttempts);
      if (password === null) break;
      tried.push("password");
      await request("password", (w) => w.writeBoolean(false).writeString(password));
      result = await outcome();
    } else {
      break;
    }
    if (result.ok) return queue;
    methods = result.methods;
  }
  const message =
    `authentication failed for ${user}: ` +
    (tried.length === 0 ? "no method we could try" : `tried ${tried.join(", ")}`) +
    `; the server accepts ${methods.join(",") || "(nothing)"}`;
  throw new SshAuthError(message, methods, tried);
}

/**
 * Runs keyboard-interactive rounds until SUCCESS or FAILURE. Returns "declined" after
 * telling the server we have no answers (the caller then reads its FAILURE).
 */
async function interactive(
  answer: NonNullable<AuthOptions["keyboardInteractive"]>,
  receive: () => Promise<Uint8Array>,
  transport: SshTransport,
): Promise<Outcome | "declined"> {
  for (let round = 0; round < MAX_INTERACTIVE_ROUNDS; round++) {
    const m = await receive();
    if (m[0] === SSH_MSG_USERAUTH_SUCCESS) return { ok: true };
    if (m[0] === SSH_MSG_USERAUTH_FAILURE) {
      const r = new SshReader(m.subarray(1));
      const methods = r.readNameList("authentications that can continue");
      return { ok: false, methods, partial: r.readBoolean("partial success") };
    }
    if (m[0] !== SSH_MSG_USERAUTH_INFO_REQUEST) {
      throw new SshProtocolError(`unexpected message ${m[0]} during keyboard-interactive`);
    }
    const r = new SshReader(m.subarray(1));
    const name = printableRemoteText(r.readUtf8("name"), 256);
    const instruction = printableBanner(r.readUtf8("instruction"));
    r.readString("language tag");
    const count = r.readUint32("num-prompts");
    if (count > MAX_PROMPTS) {
      throw new SshProtocolError(`keyboard-interactive: ${count} prompts (at most ${MAX_PROMPTS})`);
    }
    const prompts: InteractiveChallenge["prompts"] = [];
    for (let i = 0; i < count; i++) {
      const prompt = printableRemoteText(r.readUtf8(`prompt ${i}`), 512);
      prompts.push({ prompt, echo: r.readBoolean(`echo ${i}`) });
    }
    r.expectEnd("USERAUTH_INFO_REQUEST");
    // OpenSSH sends a round with no prompts after the last answer; answer it silently.
    const answers = count === 0 ? [] : await answer({ name, instruction, prompts });
    const w = new SshWriter(128).writeByte(SSH_MSG_USERAUTH_INFO_RESPONSE);
    if (answers === null || answers.length !== count) {
      await transport.send(w.writeUint32(0).toBytes());
      return "declined";
    }
    w.writeUint32(count);
    for (const a of answers) w.writeString(a);
    await transport.send(w.toBytes());
  }
  throw new SshProtocolError(`keyboard-interactive: more than ${MAX_INTERACTIVE_ROUNDS} rounds`);
}

/** Multi-line server text: control characters other than newline become spaces. */
function printableBanner(text: string): string {
  return text
    .slice(0, 8192)
    .split("\n")
    .map((line) => printableRemoteText(line.replace(/\r$/, ""), 8192))
    .join("\n");
}
