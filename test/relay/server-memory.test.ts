// What a client that never reads can make the relay hold (issue 12, item 4). Before the byte
// caps, each of four such clients sending to itself pinned ~74 MiB in the relay's queue (296
// MiB of RSS for the four). Now a client's queue is capped in bytes (1 MiB by default) and all
// queues together (128 MiB), so the four pin 4 MiB and the rest of their packets are dropped
// and counted. The relay runs in a child process (relay-memory-child.ts) so that its
// RSS in /proc is its own: the stated bound is RSS_GROWTH_BOUND over the RSS it had with all
// clients connected, measured as the peak (VmHWM) after the flood. Memory is not time: the
// bound holds however slow the machine is.
//
// Meanwhile a polite pair keeps exchanging packets, every one delivered; and the connection
// slots: one address gets its 64 sockets and no more, while another address still connects.

import { type ChildProcess, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import type { RelayOptions } from "../../server/relay/options.ts";
import { encodeKeyed, MAX_PACKET, SEND } from "../../worker/relay/frames.ts";
import {
  connectAuthed,
  connectRaw,
  type NodeKeys,
  nodeKeys,
  type RawClient,
  sendHello,
} from "./raw-client.ts";

/**
 * The peak RSS growth allowed. What the relay holds is 4 × 1 MiB of queue (checked exactly
 * through corridor_relay_queued_bytes); the rest of the growth is messages already dropped and
 * not yet collected, which V8 bounds by its own external-memory limit (~64 MB) however many
 * clients flood. Measured here: ~40 MiB with the caps, ~210 MiB without them.
 */
const RSS_GROWTH_BOUND = 96 << 20;
/** What each flooder sends to itself: 768 packets of 64 KiB, 48 MiB. */
const FLOOD_FRAMES = 768;
const FLOODERS = 4;
const MiB = 1 << 20;

let child: ChildProcess | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child?.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }
  child = undefined;
});

/** Starts the relay child; resolves with its URL and pid once it listens. */
function startChild(options: Partial<RelayOptions> = {}): Promise<{ url: string; pid: number }> {
  const started = fork(
    new URL("./relay-memory-child.ts", import.meta.url).pathname,
    [JSON.stringify(options)],
    { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] },
  );
  child = started;
  return new Promise((resolve, reject) => {
    started.once("message", (message) => resolve(message as { url: string; pid: number }));
    started.once("exit", (code) => reject(new Error(`relay child exited (${code})`)));
  });
}

/** VmRSS or VmHWM (peak) of a process, in bytes. */
function memoryOf(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  if (match === null) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** The relay's /metrics as name{labels} -> value. */
async function metrics(url: string): Promise<Map<string, number>> {
  const text = await (
    await fetch(url.replace("ws://", "http://").replace("/relay", "/metrics"))
  ).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line === "") continue;
    const space = line.lastIndexOf(" ");
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** Polls /metrics until `done` holds (the relay has read everything), at most `timeoutMs`. */
async function untilMetrics(
  url: string,
  done: (m: Map<string, number>) => boolean,
  what: string,
  timeoutMs = 120_000,
): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await metrics(url);
    if (done(m)) return m;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Sends `count` frames to the flooder's own key without ever reading, keeping at most 16 in
 * this process's send buffer (the relay's rate limit slows it by TCP backpressure).
 */
async function floodSelf(client: RawClient, keys: NodeKeys, count: number): Promise<void> {
  const frame = encodeKeyed(SEND, keys.publicKey, new Uint8Array(MAX_PACKET).fill(0x5a));
  for (let i = 0; i < count; i++) {
    const written = new Promise<void>((resolve, reject) =>
      client.ws.send(frame, (error) => (error ? reject(error) : resolve())),
    );
    if (i % 16 === 15 || i === count - 1) await written;
  }
}

describe("relay memory under clients that never read", () => {
  it(`four self-flooders grow the relay's RSS by less than ${RSS_GROWTH_BOUND / MiB} MiB; a polite pair keeps talking`, async () => {
    const { url, pid } = await startChild();
    const flooderKeys = await Promise.all(Array.from({ length: FLOODERS }, () => nodeKeys()));
    const flooders: RawClient[] = [];
    for (const keys of flooderKeys) {
      const c = await connectAuthed(url, keys, { keep: false });
      c.ws.pause(); // never reads again
      flooders.push(c);
    }
    const [ka, kb] = [await nodeKeys(), await nodeKeys()];
    const a = await connectAuthed(url, ka);
    const b = await connectAuthed(url, kb);
    clients.push(...flooders, a, b);
    const before = memoryOf(pid, "VmRSS");

    let flooding = true;
    const floods = Promise.all(
      flooders.map((c, i) => floodSelf(c, flooderKeys[i]!, FLOOD_FRAMES)),
    ).finally(() => {
      flooding = false;
    });
    // The pair exchanges rounds of ten packets each way for as long as the flood lasts; a
    // packet lost or stuck behind the flooders' queues fails next() here.
    let rounds = 0;
    while (flooding || rounds === 0) {
      for (let i = 0; i < 10; i++) {
        a.sendTo(kb.publicKey, Uint8Array.of(rounds & 0xff, i, 1));
        b.sendTo(ka.publicKey, Uint8Array.of(rounds & 0xff, i, 2));
      }
      for (let i = 0; i < 10; i++) {
        expect([...(await b.next("recv", 30_000)).packet]).toEqual([rounds & 0xff, i, 1]);
        expect([...(await a.next("recv", 30_000)).packet]).toEqual([rounds & 0xff, i, 2]);
      }
      rounds++;
    }
    await floods;
    const floodBytes = FLOODERS * FLOOD_FRAMES * (1 + 32 + MAX_PACKET);
    const after = await untilMetrics(
      url,
      (m) => (m.get("corridor_relay_bytes_in_total") ?? 0) >= floodBytes,
      "the relay to read the whole flood",
    );
    const peak = memoryOf(pid, "VmHWM");
    console.log(
      `relay RSS ${(before / MiB).toFixed(1)} MiB before, peak ${(peak / MiB).toFixed(1)} MiB ` +
        `after ${(floodBytes / MiB).toFixed(0)} MiB of self-flood (bound: +${RSS_GROWTH_BOUND / MiB} MiB); ` +
        `queued ${after.get("corridor_relay_queued_bytes")} B; pair: ${rounds} rounds`,
    );
    expect(peak - before).toBeLessThan(RSS_GROWTH_BOUND);
    // The cap bit, and /metrics says so; the pair lost nothing (their packets all arrived).
    expect(after.get('corridor_relay_cap_hits_total{cap="queue_bytes"}')).toBeGreaterThan(0);
    expect(after.get('corridor_relay_drops_total{reason="queue_full"}')).toBeGreaterThan(0);
    expect(after.get("corridor_relay_queued_bytes")).toBeLessThanOrEqual(
      FLOODERS * (MiB + 64 * 1024) + 4096,
    );
    expect(rounds).toBeGreaterThan(0);
    // Still connected: the flooders were capped, not thrown out.
    for (const c of flooders) expect(c.ws.readyState).toBe(c.ws.OPEN);
  });

  it("one address gets 64 sockets (16 before their hello) and no more; another address still connects", async () => {
    const { url } = await startChild();
    // Sixteen sockets that never say hello: the seventeenth from the same address is refused.
    const silent: RawClient[] = [];
    for (let i = 0; i < 16; i++) silent.push(await connectRaw(url));
    clients.push(...silent);
    await expect(connectRaw(url)).rejects.toThrow("HTTP 503");
    // Another address is not affected.
    const other = await connectAuthed(url, await nodeKeys(), { localAddress: "127.0.0.2" });
    clients.push(other);
    // Hellos free the unauthenticated places; the address may hold 64 sockets in all.
    for (const c of silent) {
      await sendHello(c, await nodeKeys());
      await c.next("welcome");
    }
    for (let i = 16; i < 64; i++) clients.push(await connectAuthed(url, await nodeKeys()));
    await expect(connectRaw(url)).rejects.toThrow("HTTP 503");
    clients.push(await connectAuthed(url, await nodeKeys(), { localAddress: "127.0.0.2" }));
    // A socket that goes away gives its place back.
    const leaving = clients.shift()!;
    leaving.close();
    await leaving.closed;
    const m = await untilMetrics(url, (x) => x.get("corridor_relay_connections") === 65, "a close");
    clients.push(await connectAuthed(url, await nodeKeys()));
    expect(
      m.get('corridor_relay_upgrades_rejected_total{reason="unauthenticated_per_address"}'),
    ).toBe(1);
    expect(m.get('corridor_relay_upgrades_rejected_total{reason="per_address"}')).toBe(1);
    expect(m.get('corridor_relay_cap_hits_total{cap="per_address"}')).toBe(1);
  });
});
