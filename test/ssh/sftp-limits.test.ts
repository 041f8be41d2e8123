// The SFTP client sizes its requests by the server's limits@openssh.com answer, as OpenSSH's
// sftp 9.x does (255 KiB reads and writes against OpenSSH's sftp-server, where 32 KiB requests
// cost eight times the packets for the same bytes): against the real sftp-server, against
// fake servers with and without the extension or with a malformed answer, and a seeded fuzz of
// the reply parser.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MAX_IO_LENGTH,
  SftpClient,
  SftpProtocolError,
  type SftpTransport,
} from "../../worker/ssh/sftp/client.ts";
import { SftpFramer } from "../../worker/ssh/sftp/framer.ts";
import {
  LIMITS_EXTENSION,
  parseLimits,
  SSH_FXP_EXTENDED,
  SSH_FXP_EXTENDED_REPLY,
  SSH_FXP_VERSION,
} from "../../worker/ssh/sftp/messages.ts";
import { SshReader, SshWriter } from "../../worker/ssh/wire.ts";
import { describeWithPrereq, executable, prereq } from "../helpers/prereq.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

const SFTP_SERVER = "/usr/lib/openssh/sftp-server";

describeWithPrereq(prereq(executable(SFTP_SERVER)), "SFTP limits against OpenSSH", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "corridor-sftp-limits-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function open(options?: { chunkSize?: number }) {
    const child = spawn(SFTP_SERVER, ["-d", dir], { stdio: ["pipe", "pipe", "inherit"] });
    const transport: SftpTransport = {
      readable: Readable.toWeb(child.stdout!) as unknown as ReadableStream<Uint8Array>,
      writable: Writable.toWeb(child.stdin!) as WritableStream<Uint8Array>,
    };
    return SftpClient.open(transport, options);
  }

  it("reads in requests of the server's max-read-length (255 KiB), 8 MiB in flight", async () => {
    const client = await open();
    try {
      expect(client.limits).toMatchObject({ maxReadLength: 261120, maxWriteLength: 261120 });
      expect(client.chunkSize).toBe(MAX_IO_LENGTH);
      expect(client.maxOutstanding).toBe(32);
      const data = seededBytes(7)(3_000_000);
      writeFileSync(join(dir, "three-mb"), data);
      const chunks: Uint8Array[] = [];
      const reader = client.createReadStream(join(dir, "three-mb")).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
      }
      // Every chunk but the last is one whole 261120-byte read.
      expect(chunks.slice(0, -1).every((c) => c.length === 261120)).toBe(true);
      expect(Buffer.concat(chunks).equals(Buffer.from(data))).toBe(true);
    } finally {
      await client.end();
    }
  });

  it("keeps a chunkSize the caller gave, and still records the limits", async () => {
    const client = await open({ chunkSize: 32768 });
    try {
      expect(client.limits?.maxReadLength).toBe(261120);
      expect(client.chunkSize).toBe(32768);
      expect(client.maxOutstanding).toBe(64);
    } finally {
      await client.end();
    }
  });
});

/** A server that answers INIT with `extensions` and a limits request with `limitsReply`. */
async function fakeOpen(
  extensions: string[],
  limitsReply: Uint8Array | null,
): Promise<{ client: Promise<SftpClient>; asked: Promise<string | null> }> {
  const toServer = new TransformStream<Uint8Array, Uint8Array>();
  const toClient = new TransformStream<Uint8Array, Uint8Array>();
  const reader = toServer.readable.getReader();
  const writer = toClient.writable.getWriter();
  const framer = new SftpFramer();
  const queue: Uint8Array[] = [];
  const next = async (): Promise<Uint8Array | null> => {
    while (queue.length === 0) {
      const { done, value } = await reader.read();
      if (done) return null;
      queue.push(...framer.push(value));
    }
    return queue.shift()!;
  };
  const packet = (type: number, body: (w: SshWriter) => void) => {
    const w = new SshWriter().writeByte(type);
    body(w);
    const payload = w.toBytes();
    void writer.write(new SshWriter().writeUint32(payload.length).writeRaw(payload).toBytes());
  };
  const client = SftpClient.open({ readable: toClient.readable, writable: toServer.writable });
  const asked = (async () => {
    await next(); // INIT
    packet(SSH_FXP_VERSION, (w) => {
      w.writeUint32(3);
      for (const name of extensions) w.writeString(name).writeString("1");
    });
    const request = await Promise.race([
      next(),
      client.then(
        () => null,
        () => null,
      ),
    ]);
    if (request === null || request === undefined) return null;
    expect(request[0]).toBe(SSH_FXP_EXTENDED);
    const body = new SshReader(request.subarray(1));
    const id = body.readUint32();
    const name = new TextDecoder().decode(body.readString());
    if (limitsReply !== null) {
      packet(SSH_FXP_EXTENDED_REPLY, (w) => w.writeUint32(id).writeRaw(limitsReply));
    }
    return name;
  })();
  return { client, asked };
}

const limitsBytes = (...values: number[]) => {
  const w = new SshWriter();
  for (const v of values) w.writeUint64(BigInt(v));
  return w.toBytes();
};

describe("SFTP limits against fake servers", () => {
  it("uses 32 KiB requests, 64 in flight, when the server offers no limits", async () => {
    const { client, asked } = await fakeOpen(["posix-rename@openssh.com"], null);
    const opened = await client;
    expect(await asked).toBeNull();
    expect(opened.limits).toBeNull();
    expect([opened.chunkSize, opened.maxOutstanding]).toEqual([32768, 64]);
  });

  it("sizes requests by the smallest of the read, write and packet limits", async () => {
    const { client, asked } = await fakeOpen(
      [LIMITS_EXTENSION],
      limitsBytes(34_768 + 300, 65_536, 40_000, 0),
    );
    const opened = await client;
    expect(await asked).toBe(LIMITS_EXTENSION);
    expect(opened.chunkSize).toBe(34_768);
    expect(opened.maxOutstanding).toBe(64);
  });

  it("never asks for more than 255 KiB, and 0 means no limit", async () => {
    const { client } = await fakeOpen([LIMITS_EXTENSION], limitsBytes(0, 1 << 30, 0, 0));
    const opened = await client;
    expect([opened.chunkSize, opened.maxOutstanding]).toEqual([MAX_IO_LENGTH, 32]);
  });

  it("fails the open with the field a short limits reply lacks", async () => {
    const { client } = await fakeOpen([LIMITS_EXTENSION], limitsBytes(1, 2, 3));
    const error = await client.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SftpProtocolError);
    expect((error as Error).message).toMatch(/limits@openssh\.com reply: max-open-handles/);
  });

  it("parses 5,000 seeded hostile replies: four uint64s or an SftpProtocolError", () => {
    const bytes = seededBytes(0x5f7);
    const int = seededInts(0x5f8);
    let parsed = 0;
    for (let i = 0; i < 5000; i++) {
      const input = bytes(int(3) === 0 ? 32 : int(64));
      try {
        const limits = parseLimits(input);
        parsed++;
        expect(input.length).toBe(32);
        for (const value of Object.values(limits)) {
          expect(Number.isSafeInteger(value) && value >= 0).toBe(true);
        }
      } catch (e) {
        expect(e).toBeInstanceOf(SftpProtocolError);
        expect(input.length).not.toBe(32);
      }
    }
    expect(parsed).toBeGreaterThan(1000);
  });
});
