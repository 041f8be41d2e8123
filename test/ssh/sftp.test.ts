// The SFTP version 3 client: against the real OpenSSH sftp-server (spawned on stdio in a temp
// directory: 16 MiB transfers both ways with sha-256 checks, stat, readdir, directory
// operations, errors with codes and messages, EOF, concurrency, the server dying mid-transfer),
// against a fake server played by the test (out-of-order responses, short reads, unknown ids,
// malformed packets, closed streams), and a seeded fuzz of hostile server packets into the
// response parser, the framer and a live client.

import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { Readable, Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from "../../worker/ssh/sftp/attrs.ts";
import {
  SftpClient,
  SftpError,
  SftpProtocolError,
  type SftpTransport,
} from "../../worker/ssh/sftp/client.ts";
import { MAX_PACKET_LENGTH, SftpFramer } from "../../worker/ssh/sftp/framer.ts";
import {
  parseResponse,
  SSH_FX_CONNECTION_LOST,
  SSH_FX_EOF,
  SSH_FX_FAILURE,
  SSH_FX_NO_CONNECTION,
  SSH_FX_NO_SUCH_FILE,
  SSH_FX_OK,
  SSH_FX_PERMISSION_DENIED,
  SSH_FXP_ATTRS,
  SSH_FXP_DATA,
  SSH_FXP_EXTENDED_REPLY,
  SSH_FXP_FSTAT,
  SSH_FXP_HANDLE,
  SSH_FXP_INIT,
  SSH_FXP_NAME,
  SSH_FXP_OPEN,
  SSH_FXP_READ,
  SSH_FXP_STATUS,
  SSH_FXP_VERSION,
} from "../../worker/ssh/sftp/messages.ts";
import { SshProtocolError, SshReader, SshWriter } from "../../worker/ssh/wire.ts";
import { describeWithPrereq, executable, prereq } from "../helpers/prereq.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

const SFTP_SERVER = "/usr/lib/openssh/sftp-server";
const MiB = 1024 * 1024;

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The error `promise` rejects with (fails when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

/** A stream of `bytes` in chunks of seeded sizes (1 byte .. 100 KiB). */
function chunkedStream(bytes: Uint8Array, seed: number): ReadableStream<Uint8Array> {
  const int = seededInts(seed);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      const n = 1 + int(100 * 1024);
      controller.enqueue(bytes.slice(at, at + n));
      at += n;
    },
  });
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
  return chunks;
}

function join_(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The real OpenSSH sftp-server.

interface Server {
  child: ChildProcess;
  client: SftpClient;
  exited: Promise<number | null>;
}

/** Spawns sftp-server in `dir`; `as` runs it as another user (needs root). */
async function startServer(
  dir: string,
  args: string[] = [],
  as?: { uid: number; gid: number },
): Promise<Server> {
  const child = spawn(SFTP_SERVER, ["-d", dir, ...args], {
    cwd: dir,
    stdio: ["pipe", "pipe", "inherit"],
    ...as,
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const transport: SftpTransport = {
    readable: Readable.toWeb(child.stdout!) as unknown as ReadableStream<Uint8Array>,
    writable: Writable.toWeb(child.stdin!) as WritableStream<Uint8Array>,
  };
  return { child, client: await SftpClient.open(transport), exited };
}

describeWithPrereq(prereq(executable(SFTP_SERVER)), "SFTP against OpenSSH sftp-server", () => {
  let dir: string;
  let server: Server;
  let sftp: SftpClient;
  const random = seededBytes(0x5f7b);
  const big = random(16 * MiB);
  const bigHash = sha256(big);

  beforeAll(async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "corridor-sftp-")));
    server = await startServer(dir);
    sftp = server.client;
  });

  afterAll(async () => {
    await sftp?.end();
    server?.child.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("negotiates version 3 and resolves paths", async () => {
    expect(sftp.extensions.has("posix-rename@openssh.com")).toBe(true);
    expect(await sftp.realpath(".")).toBe(dir);
    expect(await sftp.realpath(`${dir}/../${basename(dir)}/.`)).toBe(dir);
  });

  it("uploads and downloads 16 MiB with writeFile/readFile (sha-256)", async () => {
    const up: number[] = [];
    await sftp.writeFile(`${dir}/big.bin`, big, { onProgress: (n) => up.push(n) });
    expect(sha256(readFileSync(`${dir}/big.bin`))).toBe(bigHash);
    expect(up.at(-1)).toBe(big.length);
    expect(up.every((n, i) => i === 0 || n > up[i - 1]!)).toBe(true);

    const down: [number, number | undefined][] = [];
    const got = await sftp.readFile(`${dir}/big.bin`, { onProgress: (n, t) => down.push([n, t]) });
    expect(got.length).toBe(big.length);
    expect(sha256(got)).toBe(bigHash);
    expect(down.at(-1)).toEqual([big.length, big.length]);
  });

  it("uploads and downloads 16 MiB through streams (sha-256)", async () => {
    await sftp.writeFile(`${dir}/streamed.bin`, chunkedStream(big, 7));
    expect(sha256(readFileSync(`${dir}/streamed.bin`))).toBe(bigHash);
    const chunks = await collect(sftp.createReadStream(`${dir}/streamed.bin`));
    expect(chunks.every((c) => c.length <= sftp.chunkSize)).toBe(true);
    expect(sha256(join_(chunks))).toBe(bigHash);
    // From an offset.
    const tail = join_(
      await collect(sftp.createReadStream(`${dir}/streamed.bin`, { start: 12345 })),
    );
    expect(sha256(tail)).toBe(sha256(big.subarray(12345)));
    // Cancelling part-way closes the handle; the session carries on.
    const reader = sftp.createReadStream(`${dir}/streamed.bin`).getReader();
    expect((await reader.read()).value).toEqual(big.subarray(0, sftp.chunkSize));
    await reader.cancel();
    // A failing source stream fails writeFile, which closes its handle.
    const failing = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(big.subarray(0, 100_000));
        controller.error(new Error("source broke"));
      },
    });
    expect((await rejection(sftp.writeFile(`${dir}/partial.bin`, failing))).message).toBe(
      "source broke",
    );
    expect(await sftp.realpath(".")).toBe(dir);
  });

  it("stats sizes, modes, types and times; setstat and fstat", async () => {
    writeFileSync(`${dir}/s.txt`, "hello, sftp");
    chmodSync(`${dir}/s.txt`, 0o640);
    mkdirSync(`${dir}/sdir`);
    symlinkSync("s.txt", `${dir}/s.link`);
    const st = await sftp.stat(`${dir}/s.txt`);
    const local = statSync(`${dir}/s.txt`);
    expect(st.size).toBe(11);
    expect(st.permissions! & S_IFMT).toBe(S_IFREG);
    expect(st.permissions! & 0o7777).toBe(0o640);
    expect(st.uid).toBe(local.uid);
    expect(st.mtime).toBe(Math.floor(local.mtimeMs / 1000));
    expect((await sftp.stat(`${dir}/sdir`)).permissions! & S_IFMT).toBe(S_IFDIR);
    expect((await sftp.lstat(`${dir}/s.link`)).permissions! & S_IFMT).toBe(S_IFLNK);
    expect((await sftp.stat(`${dir}/s.link`)).size).toBe(11);

    await sftp.setstat(`${dir}/s.txt`, { size: 5 });
    await sftp.setstat(`${dir}/s.txt`, { permissions: 0o600, atime: 1_000_000, mtime: 2_000_000 });
    const after = statSync(`${dir}/s.txt`);
    expect(after.mode & 0o7777).toBe(0o600);
    expect(after.mtimeMs).toBe(2_000_000_000);
    expect(readFileSync(`${dir}/s.txt`, "utf8")).toBe("hello");

    const h = await sftp.open(`${dir}/s.txt`, "r+");
    await sftp.fsetstat(h, { permissions: 0o644 });
    expect(await sftp.fstat(h)).toMatchObject({ size: 5, permissions: 0o100644 });
    await sftp.close(h);
  });

  it("lists a directory of 300 files", async () => {
    mkdirSync(`${dir}/many`);
    for (let i = 0; i < 300; i++) writeFileSync(`${dir}/many/f${i}`, "x".repeat(i));
    const entries = await sftp.readdir(`${dir}/many`);
    expect(entries.length).toBe(300);
    const byName = new Map(entries.map((e) => [e.filename, e]));
    for (let i = 0; i < 300; i++) {
      const e = byName.get(`f${i}`)!;
      expect(e.attrs.size).toBe(i);
      expect(e.longname).toContain(`f${i}`);
    }
    expect(await sftp.readdir(`${dir}/sdir`)).toEqual([]);
  });

  it("makes, renames and removes files and directories", async () => {
    await sftp.mkdir(`${dir}/d1`, { permissions: 0o700 });
    expect(statSync(`${dir}/d1`).mode & 0o777).toBe(0o700);
    await sftp.writeFile(`${dir}/d1/f`, new TextEncoder().encode("data"));
    await sftp.rename(`${dir}/d1`, `${dir}/d2`);
    expect(existsSync(`${dir}/d1`)).toBe(false);
    expect(readFileSync(`${dir}/d2/f`, "utf8")).toBe("data");
    await sftp.remove(`${dir}/d2/f`);
    await sftp.rmdir(`${dir}/d2`);
    expect(existsSync(`${dir}/d2`)).toBe(false);
  });

  it("appends with flag 'a' and refuses 'wx' on an existing file", async () => {
    const enc = new TextEncoder();
    await sftp.writeFile(`${dir}/log`, enc.encode("one\n"));
    const h = await sftp.open(`${dir}/log`, "a");
    await sftp.write(h, 0, enc.encode("two\n"));
    await sftp.close(h);
    expect(readFileSync(`${dir}/log`, "utf8")).toBe("one\ntwo\n");
    const e = await rejection(sftp.open(`${dir}/log`, "wx"));
    expect(e).toMatchObject({ code: SSH_FX_FAILURE, operation: "open", path: `${dir}/log` });
  });

  it("reports errors with codes, names, server messages and paths", async () => {
    const e = await rejection(sftp.stat(`${dir}/nope`));
    expect(e).toBeInstanceOf(SftpError);
    expect(e).toMatchObject({
      code: SSH_FX_NO_SUCH_FILE,
      codeName: "SSH_FX_NO_SUCH_FILE",
      serverMessage: "No such file",
      operation: "stat",
      path: `${dir}/nope`,
    });
    expect(e.message).toBe(`stat ${dir}/nope: No such file (SSH_FX_NO_SUCH_FILE)`);
    expect((await rejection(sftp.readFile(`${dir}/nope`))).message).toBe(
      `open ${dir}/nope: No such file (SSH_FX_NO_SUCH_FILE)`,
    );
    expect((await rejection(sftp.readdir(`${dir}/nope`))).message).toMatch(/^opendir .*nope: /);
    mkdirSync(`${dir}/full`);
    writeFileSync(`${dir}/full/x`, "");
    expect(await rejection(sftp.rmdir(`${dir}/full`))).toMatchObject({ code: SSH_FX_FAILURE });
    expect((await rejection(sftp.rename(`${dir}/nope`, `${dir}/x`))).message).toBe(
      `rename ${dir}/nope -> ${dir}/x: No such file (SSH_FX_NO_SUCH_FILE)`,
    );
    // Writing into a directory fails as root too.
    expect(await rejection(sftp.open(`${dir}/full`, "w"))).toMatchObject({ code: SSH_FX_FAILURE });
    // The session survives failed requests.
    expect(await sftp.realpath(".")).toBe(dir);
  });

  it("reports permission denied on a chmod 000 file", async () => {
    writeFileSync(`${dir}/secret`, "x");
    chmodSync(`${dir}/secret`, 0);
    // Root ignores permission bits: as root, read it through a server running as nobody.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) chmodSync(dir, 0o755);
    const other = asRoot ? await startServer(dir, [], { uid: 65534, gid: 65534 }) : server;
    try {
      const e = await rejection(other.client.readFile(`${dir}/secret`));
      expect(e).toMatchObject({
        code: SSH_FX_PERMISSION_DENIED,
        codeName: "SSH_FX_PERMISSION_DENIED",
      });
      expect(e.message).toBe(`open ${dir}/secret: Permission denied (SSH_FX_PERMISSION_DENIED)`);
    } finally {
      if (asRoot) await other.client.end();
    }
  });

  it("reports permission denied from a read-only server (as root too)", async () => {
    const ro = await startServer(dir, ["-R"]);
    try {
      const e = await rejection(ro.client.writeFile(`${dir}/ro.txt`, new Uint8Array(1)));
      expect(e).toBeInstanceOf(SftpError);
      expect(e.message).toBe(`open ${dir}/ro.txt: Permission denied (SSH_FX_PERMISSION_DENIED)`);
      expect(await rejection(ro.client.mkdir(`${dir}/ro`))).toMatchObject({
        code: SSH_FX_PERMISSION_DENIED,
      });
      expect(existsSync(`${dir}/ro.txt`)).toBe(false);
      expect((await ro.client.readFile(`${dir}/big.bin`)).length).toBe(big.length);
    } finally {
      await ro.client.end();
      expect(await ro.exited).toBe(0);
    }
  });

  it("returns null at EOF and short data before it; empty files are empty", async () => {
    writeFileSync(`${dir}/ten`, "0123456789");
    const h = await sftp.open(`${dir}/ten`);
    expect(new TextDecoder().decode((await sftp.read(h, 5, 100))!)).toBe("56789");
    expect(await sftp.read(h, 10, 100)).toBeNull();
    expect(await sftp.read(h, 1_000_000, 1)).toBeNull();
    await sftp.close(h);
    const closed = await rejection(sftp.read(h, 0, 1));
    expect(closed).toMatchObject({ operation: "read", path: `${dir}/ten` });
    expect(closed).toBeInstanceOf(SftpError);

    writeFileSync(`${dir}/empty`, "");
    expect((await sftp.readFile(`${dir}/empty`)).length).toBe(0);
    expect(await collect(sftp.createReadStream(`${dir}/empty`))).toEqual([]);
    await sftp.writeFile(`${dir}/empty2`, new Uint8Array(0));
    expect(statSync(`${dir}/empty2`).size).toBe(0);
    // Sizes around the chunk size.
    for (const n of [1, 32767, 32768, 32769, 64 * 32768 + 1]) {
      const bytes = random(n);
      await sftp.writeFile(`${dir}/n${n}`, bytes);
      expect(sha256(await sftp.readFile(`${dir}/n${n}`))).toBe(sha256(bytes));
    }
  });

  it("runs many operations concurrently", async () => {
    const small = random(300_000);
    const [a, b, , stats, names] = await Promise.all([
      sftp.readFile(`${dir}/big.bin`),
      sftp.readFile(`${dir}/streamed.bin`),
      sftp.writeFile(`${dir}/concurrent.bin`, small),
      Promise.all(Array.from({ length: 100 }, (_, i) => sftp.stat(`${dir}/many/f${i}`))),
      sftp.readdir(`${dir}/many`),
    ]);
    expect(sha256(a)).toBe(bigHash);
    expect(sha256(b)).toBe(bigHash);
    expect(sha256(readFileSync(`${dir}/concurrent.bin`))).toBe(sha256(small));
    expect(stats.map((s) => s.size)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(names.length).toBe(300);
  });

  it("fails a transfer in flight when the server dies, and refuses requests after end()", async () => {
    const victim = await startServer(dir);
    const transfer = victim.client.readFile(`${dir}/big.bin`);
    const stat = victim.client.stat(`${dir}/big.bin`);
    await stat;
    victim.child.kill("SIGKILL");
    const e = await rejection(transfer);
    expect(e).toBeInstanceOf(SftpError);
    expect(e).toMatchObject({ code: SSH_FX_CONNECTION_LOST });
    expect(e.message).toMatch(/: connection closed.* \(SSH_FX_CONNECTION_LOST\)$/);
    expect(victim.client.closed).toBe(true);
    expect(await rejection(victim.client.stat("/"))).toMatchObject({ code: SSH_FX_NO_CONNECTION });

    const ended = await startServer(dir);
    await ended.client.end();
    expect(await ended.exited).toBe(0);
    expect(await rejection(ended.client.realpath("."))).toMatchObject({
      code: SSH_FX_NO_CONNECTION,
      message: "realpath .: session is closed (SSH_FX_NO_CONNECTION)",
    });
  });
});

// ---------------------------------------------------------------------------------------------
// A fake server played by the test.

/** A server packet: uint32 length ‖ type ‖ body. */
function pkt(type: number, body: (w: SshWriter) => void = () => {}): Uint8Array {
  const w = new SshWriter();
  w.writeByte(type);
  body(w);
  const payload = w.toBytes();
  return new SshWriter().writeUint32(payload.length).writeRaw(payload).toBytes();
}

const status = (id: number, code: number, message = "") =>
  pkt(SSH_FXP_STATUS, (w) =>
    w.writeUint32(id).writeUint32(code).writeString(message).writeString(""),
  );
const attrsOfSize = (id: number, size: number) =>
  pkt(SSH_FXP_ATTRS, (w) => w.writeUint32(id).writeUint32(1).writeUint64(BigInt(size)));

interface Request {
  type: number;
  id: number;
  body: SshReader;
}

/** The test's side of a fake transport. */
class FakeServer {
  readonly transport: SftpTransport;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private readonly framer = new SftpFramer();
  private readonly queue: Uint8Array[] = [];

  constructor() {
    const toServer = new TransformStream<Uint8Array, Uint8Array>();
    const toClient = new TransformStream<Uint8Array, Uint8Array>();
    this.transport = { readable: toClient.readable, writable: toServer.writable };
    this.reader = toServer.readable.getReader();
    this.writer = toClient.writable.getWriter();
  }

  /** Starts a client and completes the handshake. */
  static async connect(): Promise<{ server: FakeServer; client: SftpClient }> {
    const server = new FakeServer();
    const opening = SftpClient.open(server.transport);
    const init = await server.next();
    expect(init.type).toBe(SSH_FXP_INIT);
    expect(init.id).toBe(3); // INIT's first uint32 is the version.
    server.send(pkt(SSH_FXP_VERSION, (w) => w.writeUint32(3)));
    return { server, client: await opening };
  }

  async next(): Promise<Request> {
    while (this.queue.length === 0) {
      const { done, value } = await this.reader.read();
      if (done) throw new Error("client closed its side");
      this.queue.push(...this.framer.push(value));
    }
    const payload = this.queue.shift()!;
    const body = new SshReader(payload.subarray(1));
    return { type: payload[0]!, id: body.readUint32(), body };
  }

  send(bytes: Uint8Array): void {
    this.writer.write(bytes).catch(() => {});
  }

  close(): void {
    this.writer.close().catch(() => {});
  }
}

describe("SFTP client against a fake server", () => {
  it("matches out-of-order responses by id", async () => {
    const { server, client } = await FakeServer.connect();
    const sizes = [10, 20, 30, 40];
    const stats = sizes.map((_, i) => client.stat(`/f${i}`));
    const reqs = await Promise.all(sizes.map(() => server.next()));
    expect(reqs.map((r) => new TextDecoder().decode(r.body.readString()))).toEqual(
      sizes.map((_, i) => `/f${i}`),
    );
    for (const i of [2, 0, 3, 1]) server.send(attrsOfSize(reqs[i]!.id, sizes[i]!));
    expect((await Promise.all(stats)).map((a) => a.size)).toEqual(sizes);
  });

  it("reads a file through short, out-of-order responses in order", async () => {
    const { server, client } = await FakeServer.connect();
    const file = seededBytes(42)(3_000_003);
    const int = seededInts(43);
    let shortReads = 0;
    let maxInFlight = 0;
    const serve = (async () => {
      const held: Uint8Array[] = [];
      for (;;) {
        const req = await server.next().catch(() => null);
        if (req === null) return;
        let reply: Uint8Array;
        if (req.type === SSH_FXP_OPEN) {
          reply = pkt(SSH_FXP_HANDLE, (w) => w.writeUint32(req.id).writeString("h"));
        } else if (req.type === SSH_FXP_FSTAT) {
          reply = attrsOfSize(req.id, file.length);
        } else if (req.type === SSH_FXP_READ) {
          req.body.readString();
          const offset = Number(req.body.readUint64());
          let length = req.body.readUint32();
          if (offset >= file.length) {
            reply = status(req.id, SSH_FX_EOF);
          } else {
            if (int(3) === 0 && length > 1) {
              length = 1 + int(length - 1);
              shortReads++;
            }
            const data = file.subarray(offset, offset + length);
            reply = pkt(SSH_FXP_DATA, (w) => w.writeUint32(req.id).writeString(data));
          }
        } else {
          reply = status(req.id, SSH_FX_OK);
        }
        // Hold replies back and release them shuffled once the client stops sending.
        held.push(reply);
        if (req.type === SSH_FXP_READ) maxInFlight = Math.max(maxInFlight, held.length);
        if (held.length === 1) {
          setTimeout(() => {
            while (held.length > 0) server.send(held.splice(int(held.length), 1)[0]!);
          }, 5);
        }
      }
    })();
    // The window must drain: the client's reads wait for held replies released later.
    const got = await client.readFile("/f");
    expect(shortReads).toBeGreaterThan(10);
    expect(maxInFlight).toBe(64);
    expect(sha256(got)).toBe(sha256(file));
    await client.end();
    await serve;
  });

  it("fails every pending request with SftpProtocolError on an unknown id", async () => {
    const { server, client } = await FakeServer.connect();
    const a = rejection(client.stat("/a"));
    const b = rejection(client.realpath("/b"));
    await server.next();
    await server.next();
    server.send(status(999, SSH_FX_OK));
    for (const e of [await a, await b]) {
      expect(e).toBeInstanceOf(SftpProtocolError);
      expect(e.message).toBe("STATUS response for unknown request id 999");
    }
    expect(client.closed).toBe(true);
    const later = await rejection(client.stat("/c"));
    expect(later).toMatchObject({ code: SSH_FX_NO_CONNECTION });
    expect(later.cause).toBeInstanceOf(SftpProtocolError);
  });

  it("fails pending requests on malformed packets, with messages naming the fault", async () => {
    const cases: [Uint8Array, string][] = [
      [
        pkt(SSH_FXP_NAME, (w) => w.writeUint32(0).writeUint32(0xffffffff)),
        "NAME: count 4294967295 exceeds the packet",
      ],
      [
        pkt(SSH_FXP_ATTRS, (w) => w.writeUint32(0).writeUint32(0x100)),
        "ATTRS: unknown attribute flags 0x100",
      ],
      [pkt(77, (w) => w.writeUint32(0)), "unknown packet type 77"],
      [
        pkt(SSH_FXP_STATUS, (w) => w.writeUint32(0)),
        "STATUS: code: needs 4 bytes at offset 4, only 0 left",
      ],
      [
        new SshWriter().writeUint32(MAX_PACKET_LENGTH + 1).toBytes(),
        `packet length ${MAX_PACKET_LENGTH + 1} exceeds the limit of ${MAX_PACKET_LENGTH} bytes`,
      ],
      [
        pkt(SSH_FXP_DATA, (w) => w.writeUint32(0).writeString("ok").writeByte(0)),
        "DATA: 1 unexpected trailing bytes at offset 10",
      ],
      [
        pkt(SSH_FXP_HANDLE, (w) => w.writeUint32(0).writeString(new Uint8Array(257))),
        "HANDLE: handle of 257 bytes is longer than 256",
      ],
      [
        pkt(SSH_FXP_DATA, (w) => w.writeUint32(0).writeString("x")),
        "stat: expected STATUS or ATTRS, got DATA",
      ],
      [pkt(SSH_FXP_VERSION, (w) => w.writeUint32(3)), "unexpected second VERSION"],
    ];
    for (const [bytes, message] of cases) {
      const { server, client } = await FakeServer.connect();
      const pending = rejection(client.stat("/a"));
      const other = rejection(client.stat("/b"));
      await server.next();
      server.send(bytes);
      const e = await pending;
      expect(e).toBeInstanceOf(SftpProtocolError);
      expect(e.message).toBe(message);
      expect(await other).toBeInstanceOf(SftpProtocolError);
    }
  });

  it("rejects pending requests when the stream closes, even inside a packet", async () => {
    const { server, client } = await FakeServer.connect();
    const pending = [rejection(client.stat("/a")), rejection(client.readFile("/b"))];
    await server.next();
    server.close();
    const [a, b] = await Promise.all(pending);
    expect(a!.message).toBe("stat /a: connection closed (SSH_FX_CONNECTION_LOST)");
    expect(b!.message).toBe("open /b: connection closed (SSH_FX_CONNECTION_LOST)");

    const second = await FakeServer.connect();
    const c = rejection(second.client.stat("/c"));
    await second.server.next();
    second.server.send(status(0, SSH_FX_OK).subarray(0, 7));
    second.server.close();
    expect((await c).message).toBe(
      "stat /c: connection closed: stream ended inside a packet: 3 of 17 bytes received (SSH_FX_CONNECTION_LOST)",
    );
  });

  it("fails open() on a closed stream or a version other than 3", async () => {
    const closed = new FakeServer();
    const opening = rejection(SftpClient.open(closed.transport));
    await closed.next();
    closed.close();
    expect((await opening).message).toBe("init: connection closed (SSH_FX_CONNECTION_LOST)");

    const v6 = new FakeServer();
    const opening6 = rejection(SftpClient.open(v6.transport));
    await v6.next();
    v6.send(pkt(SSH_FXP_VERSION, (w) => w.writeUint32(6)));
    const e = await opening6;
    expect(e).toBeInstanceOf(SftpProtocolError);
    expect(e.message).toBe("server speaks SFTP version 6; only version 3 is supported");
  });
});

// ---------------------------------------------------------------------------------------------
// Seeded fuzz of hostile server packets.

/** A valid server payload (no length) of a random type with random fields. */
function validPayload(rand: (n: number) => Uint8Array, int: (n: number) => number): Uint8Array {
  const w = new SshWriter();
  const attrs = () => {
    const flags = int(2) ? 0x8000000f : int(16);
    w.writeUint32(flags >>> 0);
    if (flags & 1) w.writeUint64(BigInt(int(1 << 30)));
    if (flags & 2) w.writeUint32(int(65536)).writeUint32(int(65536));
    if (flags & 4) w.writeUint32(int(0o200000));
    if (flags & 8) w.writeUint32(int(2 ** 31)).writeUint32(int(2 ** 31));
    if (flags & 0x80000000) {
      const n = int(3);
      w.writeUint32(n);
      for (let i = 0; i < n; i++) w.writeString("x@y").writeString(rand(int(8)));
    }
  };
  const types = [
    SSH_FXP_VERSION,
    SSH_FXP_STATUS,
    SSH_FXP_HANDLE,
    SSH_FXP_DATA,
    SSH_FXP_NAME,
    SSH_FXP_ATTRS,
    SSH_FXP_EXTENDED_REPLY,
  ];
  const type = types[int(types.length)]!;
  w.writeByte(type).writeUint32(int(5));
  switch (type) {
    case SSH_FXP_VERSION:
      for (let i = int(3); i > 0; i--) w.writeString("ext@openssh.com").writeString(rand(int(4)));
      break;
    case SSH_FXP_STATUS:
      w.writeUint32(int(9)).writeString("msg").writeString("en");
      break;
    case SSH_FXP_HANDLE:
      w.writeString(rand(int(20)));
      break;
    case SSH_FXP_DATA:
      w.writeString(rand(int(200)));
      break;
    case SSH_FXP_NAME: {
      const n = int(4);
      w.writeUint32(n);
      for (let i = 0; i < n; i++) {
        w.writeString(`name${i}`).writeString(`-rw-r--r-- 1 u g 0 name${i}`);
        attrs();
      }
      break;
    }
    case SSH_FXP_ATTRS:
      attrs();
      break;
    default:
      w.writeRaw(rand(int(30)));
  }
  return w.toBytes();
}

/** `payload` with seeded damage: flips, a hostile uint32, truncation or extension. */
function mutate(
  p: Uint8Array,
  rand: (n: number) => Uint8Array,
  int: (n: number) => number,
): Uint8Array {
  let out: Uint8Array = p.slice();
  const kind = int(5);
  if (kind === 0 || kind === 4) {
    for (let f = 1 + int(4); f > 0; f--) out[int(out.length)]! ^= 1 << int(8);
  }
  if (kind === 1 && out.length >= 5) {
    const at = 1 + int(out.length - 4);
    const hostile = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, int(1000)];
    new DataView(out.buffer).setUint32(at, hostile[int(hostile.length)]!, false);
  }
  if (kind === 2) out = out.subarray(0, int(out.length + 1));
  if (kind === 3) out = join_([out, rand(1 + int(8))]);
  return out;
}

describe("SFTP seeded fuzz", () => {
  it("parses or rejects 24,000 hostile payloads with protocol errors only", () => {
    const rand = seededBytes(0x5f7f);
    const int = seededInts(0x5f80);
    // 24,000 payloads: 4,000 valid, 16,000 mutated valid, 4,000 random bytes behind a valid
    // type byte. With these seeds: 11,166 parsed and 12,834 rejected.
    const counts = { payloads: 0, parsed: 0, rejected: 0 };
    for (let i = 0; i < 24_000; i++) {
      let p = validPayload(rand, int);
      if (i % 6 === 5) p = join_([p.subarray(0, 1), rand(int(64))]);
      else if (i % 6 !== 0) p = mutate(p, rand, int);
      counts.payloads++;
      try {
        parseResponse(p);
        counts.parsed++;
      } catch (e) {
        if (!(e instanceof SftpProtocolError || e instanceof SshProtocolError)) throw e;
        counts.rejected++;
      }
    }
    expect(counts.payloads).toBe(24_000);
    expect(counts.parsed).toBeGreaterThan(2_000);
    expect(counts.rejected).toBeGreaterThan(2_000);
  });

  it("frames 20,000 streams split at random points, refusing hostile lengths", () => {
    const rand = seededBytes(0x5f81);
    const int = seededInts(0x5f82);
    // 20,000 streams of 1..5 packets, pushed in 1..300-byte pieces; a third have a damaged
    // first length field (0, 2^32 - 1, limit + 1, random, small random) and half of those are
    // also cut short. Valid streams must come back payload for payload. With these seeds:
    // 13,346 framed (13,333 intact + 13 damaged that still framed) and 6,654 rejected.
    const counts = { streams: 0, framed: 0, rejected: 0 };
    for (let i = 0; i < 20_000; i++) {
      const payloads = Array.from({ length: 1 + int(5) }, () => rand(1 + int(400)));
      const bytes = join_(
        payloads.map((p) => join_([new SshWriter().writeUint32(p.length).toBytes(), p])),
      );
      const damaged = i % 3 === 0;
      let stream = bytes;
      if (damaged) {
        const hostile = [0, 0xffffffff, MAX_PACKET_LENGTH + 1, int(2 ** 32), int(500)];
        new DataView(bytes.buffer).setUint32(0, hostile[int(hostile.length)]!, false);
        if (int(2) === 0) stream = bytes.subarray(0, int(bytes.length));
      }
      const framer = new SftpFramer();
      const out: Uint8Array[] = [];
      counts.streams++;
      try {
        for (let at = 0; at < stream.length; ) {
          const step = 1 + int(300);
          out.push(...framer.push(stream.subarray(at, at + step)));
          at += step;
          if (framer.buffered > MAX_PACKET_LENGTH + 4) throw new Error("unbounded buffering");
        }
        framer.end();
        counts.framed++;
        if (!damaged && sha256(join_(out)) !== sha256(join_(payloads))) {
          throw new Error(`stream ${i}: payloads differ`);
        }
        if (!damaged && out.length !== payloads.length) throw new Error(`stream ${i}: count`);
      } catch (e) {
        if (!(e instanceof SftpProtocolError)) throw e;
        counts.rejected++;
      }
    }
    expect(counts.framed + counts.rejected).toBe(20_000);
    expect(counts.rejected).toBeGreaterThan(3_000);
  });

  it("settles every pending request of a live client fed 600 hostile responses", async () => {
    const rand = seededBytes(0x5f83);
    const int = seededInts(0x5f84);
    const counts = { resolved: 0, sftpError: 0, protocolError: 0 };
    for (let i = 0; i < 600; i++) {
      const { server, client } = await FakeServer.connect();
      const calls = [client.stat("/a"), client.readdir("/b"), client.realpath("/c")];
      const reqs = [await server.next(), await server.next(), await server.next()];
      let payload: Uint8Array = validPayload(rand, int);
      new DataView(payload.buffer).setUint32(1, reqs[int(3)]!.id, false);
      if (i % 2) payload = mutate(payload, rand, int);
      server.send(join_([new SshWriter().writeUint32(payload.length).toBytes(), payload]));
      server.close();
      for (const result of await Promise.allSettled(calls)) {
        if (result.status === "fulfilled") counts.resolved++;
        else if (result.reason instanceof SftpProtocolError) counts.protocolError++;
        else if (result.reason instanceof SftpError) counts.sftpError++;
        else throw result.reason;
      }
    }
    // 1,800 requests; every one settles with a value, an SftpError or an SftpProtocolError.
    // With these seeds: 22 resolved, 206 SftpError, 1,572 SftpProtocolError.
    expect(counts.resolved + counts.sftpError + counts.protocolError).toBe(1_800);
  });
});
