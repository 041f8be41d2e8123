// SSH channel flow control, outgoing side (worker/ssh/channel.ts; RFC 4254 §5.2), through the
// whole client against the scripted fake server (a real key exchange and cipher): writes are
// cut at the server's maximum packet size, stop when its window is spent and go on exactly
// as far as each WINDOW_ADJUST allows; closing stdin sends EOF (half-close: the server's
// output still arrives); a write waiting on the window ends when the channel closes.
//
// "Nothing more was sent" is checked by ordering, not by waiting: after the client has used
// the window, the server sends a channel request that needs a reply; the client answers it
// in a later task, so any data sent beyond the window would arrive before that reply.

import { beforeAll, describe, expect, it } from "vitest";
import { type CryptoCore, loadCryptoCore } from "../../worker/crypto/index.ts";
import { SshClient } from "../../worker/ssh/client.ts";
import * as M from "../../worker/ssh/messages.ts";
import type { SshSession } from "../../worker/ssh/session.ts";
import { SshReader } from "../../worker/ssh/wire.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { FakeServer } from "./fixtures/fake-server.ts";
import { build, msg } from "./fixtures/hostile-builders.ts";

/** The server's channel number in FakeServer.acceptChannel's confirmation. */
const SERVER_CHANNEL = 7;

interface Rig {
  server: FakeServer;
  client: SshClient;
  session: SshSession;
  /** The client's channel number (the recipient of what the server sends). */
  clientChannel: number;
}

/** The client's next message: the data of a CHANNEL_DATA, or its message type otherwise. */
async function next(server: FakeServer): Promise<Uint8Array | number> {
  const payload = await server.recv();
  const r = new SshReader(payload.subarray(1));
  if (payload[0] !== M.SSH_MSG_CHANNEL_DATA) return payload[0]!;
  expect(r.readUint32("recipient")).toBe(SERVER_CHANNEL);
  const data = r.readString("data");
  r.expectEnd("CHANNEL_DATA");
  return data;
}

/** Reads CHANNEL_DATA until `total` bytes came; returns the packet sizes and the bytes. */
async function receiveData(server: FakeServer, total: number) {
  const sizes: number[] = [];
  const parts: Uint8Array[] = [];
  let got = 0;
  while (got < total) {
    const m = await next(server);
    if (typeof m === "number") throw new Error(`expected CHANNEL_DATA, got message ${m}`);
    sizes.push(m.length);
    parts.push(m);
    got += m.length;
  }
  const bytes = new Uint8Array(got);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { sizes, bytes };
}

/** Asks for a reply and returns the client's next message type: proof nothing came before. */
async function nextAfterRoundTrip(rig: Rig): Promise<Uint8Array | number> {
  rig.server.send(build.request(rig.clientChannel, "ping@corridor.test", true));
  return await next(rig.server);
}

describe("SSH channel flow control against a fake server", () => {
  let core: CryptoCore;
  beforeAll(async () => {
    core = await loadCryptoCore();
  });

  async function open(window: number, maxPacket: number): Promise<Rig> {
    const server = new FakeServer({ core, random: seededBytes(window ^ maxPacket) });
    const serverSide = (async () => {
      await server.handshake();
      await server.acceptAuth();
    })();
    const client = await SshClient.connect(server.stream, {
      core,
      username: "u",
      verifyHostKey: () => undefined,
      connection: { keepaliveIntervalMs: 0 },
    });
    await serverSide;
    const opening = client.connection.openSession();
    const clientChannel = await server.acceptChannel(window, maxPacket);
    return { server, client, session: await opening, clientChannel };
  }

  it("cuts writes at the maximum packet and waits on the window, resuming per adjust", async () => {
    const rig = await open(1000, 300);
    const payload = seededBytes(0xf10)(2500);
    const writer = rig.session.stdin.getWriter();
    let written = false;
    const write = writer.write(payload).then(() => {
      written = true;
    });

    const first = await receiveData(rig.server, 1000);
    expect(first.sizes).toEqual([300, 300, 300, 100]);
    expect(await nextAfterRoundTrip(rig)).toBe(M.SSH_MSG_CHANNEL_FAILURE);
    expect(written).toBe(false);

    rig.server.send(build.adjust(rig.clientChannel, 800));
    const second = await receiveData(rig.server, 800);
    expect(second.sizes).toEqual([300, 300, 200]);
    expect(await nextAfterRoundTrip(rig)).toBe(M.SSH_MSG_CHANNEL_FAILURE);
    expect(written).toBe(false);

    rig.server.send(build.adjust(rig.clientChannel, 10_000));
    const third = await receiveData(rig.server, 700);
    expect(third.sizes).toEqual([300, 300, 100]);
    await write;
    expect(written).toBe(true);
    expect([...first.bytes, ...second.bytes, ...third.bytes]).toEqual([...payload]);

    // What is left of the window (9,300 bytes) is used without waiting.
    await writer.write(payload.subarray(0, 650));
    expect((await receiveData(rig.server, 650)).sizes).toEqual([300, 300, 50]);
    await rig.client.close();
    rig.server.close();
  });

  it("splits a large write into maximum-size packets when the window is ample", async () => {
    const rig = await open(1 << 20, 32_768);
    const payload = seededBytes(0xf11)(100_000);
    const writer = rig.session.stdin.getWriter();
    const write = writer.write(payload);
    const got = await receiveData(rig.server, payload.length);
    await write;
    expect(got.sizes).toEqual([32_768, 32_768, 32_768, 1_696]);
    expect([...got.bytes]).toEqual([...payload]);
    await rig.client.close();
    rig.server.close();
  });

  it("a zero window at open holds the first byte until the server grants one", async () => {
    const rig = await open(0, 1024);
    const writer = rig.session.stdin.getWriter();
    let written = false;
    const write = writer.write(new Uint8Array([1, 2, 3])).then(() => {
      written = true;
    });
    expect(await nextAfterRoundTrip(rig)).toBe(M.SSH_MSG_CHANNEL_FAILURE);
    expect(written).toBe(false);
    rig.server.send(build.adjust(rig.clientChannel, 2));
    expect((await receiveData(rig.server, 2)).bytes).toEqual(new Uint8Array([1, 2]));
    rig.server.send(build.adjust(rig.clientChannel, 1));
    expect((await receiveData(rig.server, 1)).bytes).toEqual(new Uint8Array([3]));
    await write;
    expect(written).toBe(true);
    await rig.client.close();
    rig.server.close();
  });

  it("closing stdin sends EOF once; the server's output and exit status still arrive", async () => {
    const rig = await open(4096, 1024);
    const writer = rig.session.stdin.getWriter();
    await writer.write(new TextEncoder().encode("last words"));
    await writer.close();
    expect(new TextDecoder().decode((await receiveData(rig.server, 10)).bytes)).toBe("last words");
    const eof = await rig.server.recv();
    expect([...eof]).toEqual([M.SSH_MSG_CHANNEL_EOF, 0, 0, 0, SERVER_CHANNEL]);
    // Half-closed: the server still talks, then ends the session.
    const reply = new TextEncoder().encode("heard you");
    rig.server.send(
      build.data(rig.clientChannel, reply),
      build.request(rig.clientChannel, "exit-status", false, new Uint8Array([0, 0, 0, 3])),
      build.eof(rig.clientChannel),
      build.close(rig.clientChannel),
    );
    const reader = rig.session.stdout.getReader();
    const first = await reader.read();
    expect(first.value).toEqual(reply);
    expect((await reader.read()).done).toBe(true);
    expect((await rig.session.exit).code).toBe(3);
    // The client's CLOSE answers the server's, and nothing but it (no second EOF).
    expect(await next(rig.server)).toBe(M.SSH_MSG_CHANNEL_CLOSE);
    await rig.client.close();
    rig.server.close();
  });

  it("a write waiting on the window fails when the server closes the channel", async () => {
    const rig = await open(5, 1024);
    const writer = rig.session.stdin.getWriter();
    const write = writer.write(new Uint8Array(20)).then(
      () => "written",
      (e: Error) => e.message,
    );
    expect((await receiveData(rig.server, 5)).sizes).toEqual([5]);
    rig.server.send(build.close(rig.clientChannel));
    expect(await write).toBe("channel closed for writing");
    expect(await next(rig.server)).toBe(M.SSH_MSG_CHANNEL_CLOSE);
    await rig.client.close();
    rig.server.close();
  });

  it("a session's own windowSize is what its CHANNEL_OPEN grants and what the client enforces", async () => {
    const rig = await open(1000, 300);
    // The rig's session took the connection's default; a terminal's asks for its own.
    const opening = rig.client.connection.openSession({ windowSize: 512 * 1024 });
    const r = new SshReader((await rig.server.expect(M.SSH_MSG_CHANNEL_OPEN)).subarray(1));
    expect(r.readUtf8("channel type")).toBe("session");
    const id = r.readUint32("sender channel");
    expect(r.readUint32("initial window")).toBe(512 * 1024);
    rig.server.send(
      msg(M.SSH_MSG_CHANNEL_OPEN_CONFIRMATION, (w) =>
        w.writeUint32(id).writeUint32(8).writeUint32(1000).writeUint32(300),
      ),
    );
    const session = await opening;
    // 512 KiB arrive unread; one more byte is past the window: the connection ends saying so.
    for (let at = 0; at < 512 * 1024; at += 32 * 1024) {
      rig.server.send(build.data(id, new Uint8Array(32 * 1024)));
    }
    rig.server.send(build.data(id, Uint8Array.of(1)));
    expect(await next(rig.server)).toBe(M.SSH_MSG_DISCONNECT);
    await expect(new Response(session.stdout).arrayBuffer()).rejects.toThrow(
      /1 bytes of data exceed the window of 0/,
    );
    rig.server.close();
  });
});
