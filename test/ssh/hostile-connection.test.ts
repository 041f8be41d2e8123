// Hostile SSH servers, connection layer: hostile channel and global messages driven into
// SshConnection directly, and sent through the full client after authentication.
// Whatever the server sends, the client never crashes, never hangs and never loops: every
// input ends in success or in an SshError (SshAuthError, HostKeyError) with a message; no
// other exception, no unhandled rejection, every attempt settles within BOUND_MS, and the
// client lets go of the stream (its `closed` promise settles).
//
// The server is test/ssh/fixtures/fake-server.ts (a real curve25519 / ed25519 / chacha20-
// poly1305 key exchange with strict kex, so the client's checks run for real).
//
// Seeded hostile inputs (the same on every run). Each section asserts its own count; the
// sections live in separate files, hostile-<file>.test.ts, run as separate processes, so
// their sum is documented here rather than asserted (once one test: total >= 50,000):
//   identification / banner streams, full transport ......... transport  1,500
//   mutated and random KEXINITs, full transport .............. transport  1,200
//   mutated KEX_ECDH_REPLYs, full transport .................. kex        800
//   out-of-order and non-kex messages around strict kex ...... kex        800
//   userauth-phase messages, full client (500 x connect) ..... auth       >= 2,000 (~2,400)
//   userauth messages driven into authenticate() directly .... auth       >= 5,000 (~7,200)
//   connection-layer messages driven into SshConnection ...... connection 25,000
//   connection-layer messages, full client (150 connections) . connection >= 15,000 (~15,200)
//   total .................................................... >= 51,300 (~54,100)
// A seed in a failure message reproduces its case; HOSTILE_SUMMARY=1 prints each section's
// outcome breakdown. Shared helpers: fixtures/hostile-kit.ts and fixtures/hostile-builders.ts.

import { describe, expect, it } from "vitest";
import { SshClient } from "../../worker/ssh/client.ts";
import { ChannelOpenError, SshConnection } from "../../worker/ssh/connection.ts";
import { MessageQueue } from "../../worker/ssh/message-queue.ts";
import * as M from "../../worker/ssh/messages.ts";
import { build, concat, msg, mutate, randomMessage, u32 } from "./fixtures/hostile-builders.ts";
import {
  clientBase,
  fuzz,
  hostileHooks,
  hostileText,
  newServer,
  Problem,
  printable,
  Rng,
  type Settled,
  StubTransport,
  settle,
  sshErrorOf,
  Tally,
  within,
} from "./fixtures/hostile-kit.ts";

hostileHooks();

// ---------------------------------------------------------------------------------------
// The connection layer.

const BOUNDARY = [0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** A hostile connection-layer message for a connection with channels 0 (open) and 1 (opening). */
function connectionMessage(rng: Rng): Uint8Array {
  const recipient = rng.chance(0.7)
    ? rng.pick([0, 0, 0, 1])
    : rng.pick([2, 1023, ...BOUNDARY, rng.u32()]);
  const n = () => (rng.chance(0.5) ? rng.pick(BOUNDARY) : rng.u32());
  const bytes = () => rng.bytes(rng.pick([0, 1, 100, 1024, 32768, 32769, rng.int(70000)]));
  const base = rng.pick([
    () => build.data(recipient, bytes()),
    () => build.extended(recipient, rng.pick([0, 1, 2, n()]), bytes()),
    () => build.adjust(recipient, n()),
    () => build.eof(recipient),
    () => build.close(recipient),
    () =>
      build.request(
        recipient,
        rng.pick(["exit-status", "exit-signal", "xon-xoff", hostileText(rng)]),
        rng.chance(0.5),
        rng.bytes(rng.int(24)),
      ),
    () => build.exitSignal(recipient, rng.chance(0.5), hostileText(rng), hostileText(rng)),
    () => build.reply(rng.pick([M.SSH_MSG_CHANNEL_SUCCESS, M.SSH_MSG_CHANNEL_FAILURE]), recipient),
    () => build.confirm(recipient, n(), n(), n()),
    () => build.openFailure(recipient, n(), hostileText(rng)),
    () => build.globalRequest(hostileText(rng), rng.chance(0.5), rng.bytes(rng.int(16))),
    () =>
      msg(rng.pick([M.SSH_MSG_REQUEST_SUCCESS, M.SSH_MSG_REQUEST_FAILURE]), (w) =>
        w.writeRaw(rng.bytes(rng.int(8))),
      ),
    () =>
      build.channelOpen(
        rng.pick(["x11", "forwarded-tcpip", "auth-agent@openssh.com", hostileText(rng)]),
        n(),
        n(),
        n(),
      ),
    () => randomMessage(rng),
  ])();
  return rng.chance(0.3) ? mutate(rng, base, rng.chance(0.2)) : base;
}

describe("hostile server: connection layer", () => {
  it("survives hostile messages driven into SshConnection directly", {
    timeout: 60_000,
  }, async () => {
    const tally = new Tally();
    const INPUTS = 25_000;
    for (let seed = 0x7d000000; tally.inputs < INPUTS; seed++) {
      const rng = new Rng(seed);
      try {
        const stub = new StubTransport();
        const transport = stub.asTransport();
        const windowSize = rng.pick([1024, 65536, 4 * 1024 * 1024]);
        const connection = new SshConnection(transport, new MessageQueue(transport), {
          keepaliveIntervalMs: 0,
          windowSize,
        });
        const opening = connection.openSession();
        stub.deliver(
          build.confirm(0, 5, rng.pick([0, 1, 0xffffffff, rng.u32()]), 1 + rng.int(0xfffffffe)),
        );
        const session = await within(opening, "openSession");
        const pendingOpen = settle(connection.openSession());
        const pendingRequest = settle(session.channel.request("probe@corridor.test", true));
        const pendingGlobal = settle(connection.globalRequest("probe@corridor.test", true));
        const stdout = settle(new Response(session.stdout).arrayBuffer());
        const stderr = settle(new Response(session.stderr).arrayBuffer());
        for (let i = 1 + rng.int(6); i > 0 && stub.ended === null; i--) {
          const m = connectionMessage(rng);
          stub.deliver(m);
          tally.inputs++;
        }
        if (stub.handlerThrew !== null) throw new Problem(`handler threw: ${stub.handlerThrew}`);
        const ended = stub.ended;
        if (ended !== null) {
          if (
            ended.code !== M.SSH_DISCONNECT.PROTOCOL_ERROR ||
            !/^protocol error: .+/.test(ended.message)
          ) {
            throw new Problem(`ended with code ${ended.code}: ${ended.message}`);
          }
          tally.note("protocol error");
        } else {
          tally.note("survived");
          await stub.disconnect("test over");
        }
        // Everything pending settles once the connection is gone.
        await within(session.exit, "session.exit");
        for (const [what, p] of [
          ["request", pendingRequest],
          ["global request", pendingGlobal],
          ["stdout", stdout],
          ["stderr", stderr],
        ] as const) {
          const r = await within(p as Promise<Settled<unknown>>, what);
          if (!r.ok) sshErrorOf(r.error);
        }
        const open = await settle(within(pendingOpen, "pending openSession", 10));
        if (!open.ok && open.error instanceof Problem) {
          throw open.error;
        } else if (open.ok && !open.value.ok && !(open.value.error instanceof ChannelOpenError)) {
          sshErrorOf(open.value.error);
        }
      } catch (e) {
        tally.fail(seed, e);
      }
    }
    tally.finish(INPUTS);
    expect(tally.count("protocol error")).toBeGreaterThan(1000);
    expect(tally.count("survived")).toBeGreaterThan(100);
  });

  it("survives hostile connection-layer messages through the full client", {
    timeout: 60_000,
  }, async () => {
    const tally = new Tally();
    const CONNECTIONS = 150;
    await fuzz(tally, CONNECTIONS, 0x8e000000, async (rng, seed) => {
      await postAuthConnection(rng, seed, tally);
    });
    tally.finish(15_000);
  });
});

/**
 * One connection through the full client: a session with a bogus (but legal) window and
 * packet size, ~100 hostile messages the client must survive (checked by counting its
 * replies and the data it delivers), then one message that must end the connection with a
 * precise protocol error.
 */
async function postAuthConnection(rng: Rng, seed: number, tally: Tally): Promise<void> {
  const server = newServer(seed);
  const problems: string[] = [];
  const windowSize = rng.pick([16 * 1024, 128 * 1024, 4 * 1024 * 1024]);
  const serverSide = (async () => {
    await server.handshake();
    await server.acceptAuth();
  })();
  const client = await within(
    SshClient.connect(server.stream, {
      ...clientBase(seed),
      username: "u",
      connection: { keepaliveIntervalMs: 0, windowSize },
      onDebug: (text) => {
        if (!printable(text)) problems.push(`debug text not printable: ${JSON.stringify(text)}`);
      },
    }),
    "SshClient.connect",
  );
  await within(serverSide, "handshake");
  const opening = client.connection.openSession();
  const remoteStart = rng.pick([0, 1, 0xffffffff, rng.u32()]);
  const id = await within(server.acceptChannel(remoteStart, 1 + rng.int(0xfffffffe)), "open");
  const session = await within(opening, "openSession");
  const got = { stdout: [] as Uint8Array[], stderr: [] as Uint8Array[] };
  const pump = async (stream: ReadableStream<Uint8Array>, into: Uint8Array[]) => {
    const reader = stream.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) into.push(r.value);
  };
  const reading = [
    settle(pump(session.stdout, got.stdout)),
    settle(pump(session.stderr, got.stderr)),
  ];
  const sent = { stdout: [] as Uint8Array[], stderr: [] as Uint8Array[] };
  const expected = new Map<number, number>();
  const expect1 = (type: number) => expected.set(type, (expected.get(type) ?? 0) + 1);
  let remoteWindow = remoteStart;
  let dataBudget = windowSize / 2 - 1;
  let used = 0;
  for (let i = 80 + rng.int(40); i > 0; i--) {
    const want = rng.chance(0.5);
    const k = rng.int(13);
    let m: Uint8Array;
    if (k === 0) m = build.ignore(rng.bytes(rng.int(300)));
    else if (k === 1) m = build.debug(rng.chance(0.7), hostileText(rng, 8, true));
    else if (k === 2) m = msg(M.SSH_MSG_UNIMPLEMENTED, (w) => w.writeUint32(rng.u32()));
    else if (k === 3) m = build.extInfo([[hostileText(rng), rng.bytes(rng.int(40))]]);
    else if (k === 4) {
      m = build.globalRequest(hostileText(rng), want, rng.bytes(rng.int(20)));
      if (want) expect1(M.SSH_MSG_REQUEST_FAILURE);
    } else if (k === 5) {
      m = build.channelOpen(hostileText(rng), rng.u32(), rng.u32(), rng.u32());
      expect1(M.SSH_MSG_CHANNEL_OPEN_FAILURE);
    } else if (k <= 7) {
      const data = rng.bytes(Math.min(dataBudget, rng.int(512)));
      dataBudget -= data.length;
      const code = k === 6 ? -1 : rng.pick([0, 1, 1, 2, 0xffffffff]);
      m = code < 0 ? build.data(id, data) : build.extended(id, code, data);
      // CHANNEL_DATA goes to stdout, EXTENDED_DATA type 1 to stderr, other types nowhere.
      if (code < 0) sent.stdout.push(data);
      else if (code === 1) sent.stderr.push(data);
    } else if (k === 8) {
      m = build.request(id, hostileText(rng) || "x", want, rng.bytes(rng.int(20)));
      if (want) expect1(M.SSH_MSG_CHANNEL_FAILURE);
    } else if (k === 9) {
      m = build.request(id, "exit-status", want, u32(rng.u32()));
      if (want) expect1(M.SSH_MSG_CHANNEL_SUCCESS);
    } else if (k === 10) {
      m = build.exitSignal(id, want, hostileText(rng), hostileText(rng, 8, true));
      if (want) expect1(M.SSH_MSG_CHANNEL_SUCCESS);
    } else {
      const add = rng.chance(0.2)
        ? 0xffffffff - remoteWindow
        : rng.int(0xffffffff - remoteWindow + 1);
      remoteWindow += add;
      m = build.adjust(id, add);
    }
    server.send(m);
    used++;
  }
  // Alive? A global request after all of it gets its answer, after every earlier reply.
  server.send(build.globalRequest("liveness@corridor.test", true));
  expect1(M.SSH_MSG_REQUEST_FAILURE);
  const total = [...expected.values()].reduce((a, b) => a + b, 0);
  const replies = new Map<number, number>();
  await within(
    (async () => {
      for (let n = 0; n < total; ) {
        const type = (await server.recv())[0]!;
        if (type === M.SSH_MSG_CHANNEL_WINDOW_ADJUST) continue;
        replies.set(type, (replies.get(type) ?? 0) + 1);
        n++;
      }
    })(),
    "the client's replies",
  );
  expect(Object.fromEntries(replies)).toEqual(Object.fromEntries(expected));
  for (const key of ["stdout", "stderr"] as const) {
    if (Buffer.compare(concat(got[key]), concat(sent[key])) !== 0) {
      problems.push(
        `${key}: ${concat(got[key]).length} bytes delivered, ${concat(sent[key]).length} sent`,
      );
    }
  }
  // Then one message that must end the connection with a precise protocol error.
  const localWindow = windowSize - concat([...sent.stdout, ...sent.stderr]).length;
  const finals: [Uint8Array[], RegExp][] = [
    localWindow < 200_000
      ? [[build.data(id, new Uint8Array(localWindow + 1))], /exceed the window/]
      : [[build.data(id, new Uint8Array(32 * 1024 + 1))], /exceeds our maximum of 32768/],
    [[build.data(id + 1 + rng.int(1000), rng.bytes(4))], /unknown channel/],
    [
      [build.adjust(id, 0xffffffff - remoteWindow + 1 + rng.int(remoteWindow + 1))],
      /window adjusted past 2\^32-1/,
    ],
    [
      [msg(rng.pick([M.SSH_MSG_REQUEST_SUCCESS, M.SSH_MSG_REQUEST_FAILURE]))],
      /reply to no request/,
    ],
    [
      [build.reply(rng.pick([M.SSH_MSG_CHANNEL_SUCCESS, M.SSH_MSG_CHANNEL_FAILURE]), id)],
      /reply to no request/,
    ],
    [[build.confirm(id, 9, 100, 100)], /which we are not opening/],
    [[build.eof(id), build.data(id, rng.bytes(1 + rng.int(9)))], /data after EOF/],
    [[build.close(id), build.data(id, rng.bytes(3))], /unknown channel/],
    [[build.data(id, rng.bytes(4)).subarray(0, 5 + rng.int(7))], /needs|exceeds/],
    [[concat([build.data(id, rng.bytes(4)), rng.bytes(1 + rng.int(4))])], /trailing/],
    [[msg(rng.pick([0, 5, 6, 8, 50, 51, 52, 60, 79, 90 + 11, 150, 255]))], /unexpected message/],
    [[build.globalRequest("\u00e9", true).subarray(0, 7)], /needs|exceeds/],
  ];
  const [messages, pattern] = rng.pick(finals);
  server.send(...messages);
  used += messages.length;
  const error = sshErrorOf(await within(client.transport.closed, "closed after the fatal message"));
  if (
    error.code !== M.SSH_DISCONNECT.PROTOCOL_ERROR ||
    error.by !== "client" ||
    !pattern.test(error.message)
  ) {
    problems.push(
      `fatal message: code ${error.code} by ${error.by}: ${error.message} (want ${pattern})`,
    );
  }
  tally.inputs += used;
  tally.note(pattern.source);
  // Everything settles: the session, its streams, the stream to the server.
  const exit = await within(session.exit, "session.exit");
  if (!printable(exit.message, true) || (exit.signal !== null && !printable(exit.signal))) {
    tally.note("exit-signal text not made printable");
  }
  for (const r of await within(Promise.all(reading), "stdout/stderr")) {
    if (!r.ok) sshErrorOf(r.error);
  }
  await client.close();
  await within(server.clientClosed, "the client releasing the stream");
  server.close();
  if (problems.length > 0) throw new Problem(problems.join("; "));
}
