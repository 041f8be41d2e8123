// The hello proof bound to the relay's identity (issue 12, item 7): a client that pins the
// relay's key refuses a SERVER_HELLO with another key and proves nothing to it; a hostile relay
// that passes another relay's hello through cannot log in there as the client (it can when
// nothing is pinned: the attack the pin stops); ws:// to a non-loopback relay warns loudly, in
// the log and in the engine's network status.

import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { type RelayServer, startRelay } from "../../server/relay/relay-server.ts";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import { loadCryptoCore } from "../../worker/crypto/index.ts";
import { MemoryStore } from "../../worker/engine/store.ts";
import { createEngine } from "../../worker/engine.ts";
import { CLOSE_RELAY_KEY_MISMATCH, RelayBind } from "../../worker/relay/client.ts";
import { CLIENT_HELLO, RELAY_SUBPROTOCOL, WELCOME } from "../../worker/relay/frames.ts";
import { isLoopbackHost, parseRelayTarget, pinnedRelayUrl } from "../../worker/relay/relay-url.ts";
import type { RelaySocket } from "../../worker/relay/socket.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { seededInts } from "../helpers/seeded.ts";

const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function relayWithLogs(relayId: string): Promise<{ relay: RelayServer; logs: string[] }> {
  const logs: string[] = [];
  const relay = await startRelay({
    auth: { mode: "open" },
    relayId,
    log: (line) => logs.push(line),
    closeGraceMs: 200,
  });
  cleanup.push(() => relay.close());
  return { relay, logs };
}

async function bindTo(
  url: string,
  extra: Partial<ConstructorParameters<typeof RelayBind>[0]> = {},
) {
  const privateKey = generatePrivateKey();
  const bind = new RelayBind({
    url,
    privateKey,
    core: await loadCryptoCore(),
    x25519: nodeX25519,
    connect: nodeRelayConnect(),
    backoffBaseMs: 20,
    backoffMaxMs: 100,
    ...extra,
  });
  cleanup.push(() => bind.close());
  return { bind, publicKey: keyToBase64(await nodeX25519.publicKey(privateKey)) };
}

/**
 * A hostile relay: for each client it opens a connection to `victimUrl` and passes every
 * message through both ways, so the client sees the victim relay's SERVER_HELLO. Records
 * whether the victim relay WELCOMEd the connection the hostile relay made in the client's name.
 */
async function passThroughRelay(victimUrl: string) {
  const seen = { welcomedByVictim: false, clientHellos: 0 };
  const server = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    handleProtocols: (protocols) => (protocols.has(RELAY_SUBPROTOCOL) ? RELAY_SUBPROTOCOL : false),
  });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  const upstreams: WebSocket[] = [];
  server.on("connection", (client) => {
    const upstream = new WebSocket(victimUrl, RELAY_SUBPROTOCOL);
    upstreams.push(upstream);
    upstream.on("message", (data: Buffer) => {
      if (data[0] === WELCOME) seen.welcomedByVictim = true;
      client.send(data);
    });
    client.on("message", (data: Buffer) => {
      // Only CLIENT_HELLO: the unpinned bind's PING and FEATURES may still be on their way.
      if (data[0] === CLIENT_HELLO) seen.clientHellos++;
      upstream.send(data);
    });
    upstream.on("close", () => client.terminate());
    client.on("close", () => upstream.terminate());
    upstream.on("error", () => {});
    client.on("error", () => {});
  });
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        for (const u of upstreams) u.terminate();
        for (const c of server.clients) c.terminate();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as { port: number };
  return { url: `ws://127.0.0.1:${port}/relay`, seen };
}

describe("relay URLs: the #key= pin and the ws:// warning", () => {
  const key = generatePrivateKey(); // any 32 bytes serve as a public key here
  const b64 = keyToBase64(key);

  it("takes the pin from the fragment (base64, percent-encoded or base64url) and strips it", () => {
    for (const written of [b64, encodeURIComponent(b64), Buffer.from(key).toString("base64url")]) {
      const target = parseRelayTarget(`wss://relay.example/relay#key=${written}`);
      expect(target.url).toBe("wss://relay.example/relay");
      expect(keyToBase64(target.pinnedKey!)).toBe(b64);
      expect(target.warning).toBeUndefined();
    }
    expect(pinnedRelayUrl("ws://127.0.0.1:8080/relay#key=x", key)).toBe(
      `ws://127.0.0.1:8080/relay#key=${encodeURIComponent(b64)}`,
    );
    expect(parseRelayTarget("ws://127.0.0.1:8080/relay").pinnedKey).toBeUndefined();
  });

  it("refuses a fragment that is not key=<key>, a bad key and two pins that disagree", () => {
    expect(() => parseRelayTarget("ws://127.0.0.1/relay#k=abc")).toThrow(
      "relay URL ws://127.0.0.1/relay: the part after # must be key=<the relay's public key>, nothing else",
    );
    expect(() => parseRelayTarget("ws://127.0.0.1/relay#key=AAAA")).toThrow(
      "relay URL ws://127.0.0.1/relay: #key=: not a WireGuard key: 4 characters, expected 44 (base64 of 32 bytes)",
    );
    expect(() => parseRelayTarget("ws://127.0.0.1/relay#key=%E0%A4%A")).toThrow(
      "relay URL ws://127.0.0.1/relay: the key after #key= is badly percent-encoded",
    );
    const other = generatePrivateKey();
    expect(() => parseRelayTarget(`ws://127.0.0.1/relay#key=${b64}`, other)).toThrow(
      `relay ws://127.0.0.1/relay: the URL pins key ${b64}, the configuration ${keyToBase64(other)}`,
    );
    expect(() => parseRelayTarget("http://127.0.0.1/relay")).toThrow(
      'relay URL "http://127.0.0.1/relay" is not ws:// or wss://',
    );
  });

  it("knows loopback from the network", () => {
    for (const host of ["127.0.0.1", "127.9.8.7", "[::1]", "localhost", "corridor.localhost"]) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    expect(isLoopbackHost("[::ffff:127.0.0.1]")).toBe(true);
    for (const host of ["10.0.0.1", "128.0.0.1", "[::2]", "[fd00::1]", "relay.example", "[::]"]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });

  it("warns about ws:// to a non-loopback host, not about wss:// or loopback", () => {
    expect(parseRelayTarget("ws://203.0.113.7:8080/relay").warning).toBe(
      "relay ws://203.0.113.7:8080/relay is reached over unencrypted ws://: anyone on the way " +
        "can read the relay token and watch, delay, drop or take over this relay connection " +
        "(WireGuard still encrypts the packets inside it); use wss://203.0.113.7:8080/relay, " +
        "and pin the relay's key with #key=",
    );
    expect(parseRelayTarget(`ws://203.0.113.7:8080/relay#key=${b64}`).warning).toMatch(
      /use wss:\/\/203\.0\.113\.7:8080\/relay$/,
    );
    expect(parseRelayTarget("wss://203.0.113.7/relay").warning).toBeUndefined();
    expect(parseRelayTarget("ws://[::1]:8080/relay").warning).toBeUndefined();
  });

  it("hostile URL text: a clear error or a sound target, never anything else (5,000 inputs)", () => {
    const ints = seededInts(0x9e1a);
    const alphabet = [
      "#",
      "%",
      "=",
      "k",
      "e",
      "y",
      "[",
      "]",
      ":",
      "/",
      "?",
      "@",
      "-",
      "_",
      "+",
      "é",
      "\u0000",
      " ",
      "A",
      "%zz",
    ];
    const seed = `ws://relay.example:8080/relay#key=${encodeURIComponent(b64)}`;
    let parsed = 0;
    for (let i = 0; i < 5000; i++) {
      const chars = [...seed];
      for (let edits = 1 + ints(4); edits > 0; edits--) {
        const at = ints(chars.length + 1);
        const op = ints(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, alphabet[ints(alphabet.length)]!);
        else chars.splice(at, 1, alphabet[ints(alphabet.length)]!);
      }
      const text = chars.join("");
      try {
        const target = parseRelayTarget(text);
        parsed++;
        // The URL as given (no fragment), or a base URL's with /relay added: always a relay's path.
        const given = text.split("#")[0]!;
        if (target.url !== given) expect(new URL(given).pathname, text).toBe("/");
        expect(new URL(target.url).pathname.endsWith("/relay"), text).toBe(true);
        expect(target.pinnedKey === undefined || target.pinnedKey.length === 32).toBe(true);
      } catch (error) {
        expect(error, text).toBeInstanceOf(Error);
        expect((error as Error).message, text).toMatch(/^relay( URL)? /);
      }
    }
    expect(parsed).toBeGreaterThan(0);
  });

  it("RelayBind says it once, at open, through onWarning (console.warn by default)", async () => {
    const warnings: string[] = [];
    const opened: string[] = [];
    const silent: RelaySocket = {
      bufferedAmount: 0,
      listen: () => {},
      send: () => {},
      close: () => {},
    };
    const { bind } = await bindTo(`ws://relay.example/relay#key=${b64}`, {
      connect: (url) => {
        opened.push(url);
        return silent;
      },
      onWarning: (text) => warnings.push(text),
    });
    expect(bind.transportWarning).toMatch(/^relay ws:\/\/relay\.example\/relay is reached over/);
    expect(warnings).toEqual([]);
    const opening = bind.open(() => {});
    expect(warnings).toEqual([bind.transportWarning]);
    // The fragment never reaches the WebSocket (browsers throw on one).
    expect(opened).toEqual(["ws://relay.example/relay"]);
    await bind.close();
    await expect(opening).rejects.toThrow("closed before the relay welcomed us");
  });
});

describe("a pinned relay key", () => {
  it("the pinned relay welcomes the client", async () => {
    const { relay } = await relayWithLogs("pinned");
    const { bind } = await bindTo(pinnedRelayUrl(relay.url, relay.relayPublicKey));
    await bind.open(() => {});
    expect(bind.state).toBe("ready");
    expect(bind.presentedRelayKey).toBe(keyToBase64(relay.relayPublicKey));
  });

  it("another key in SERVER_HELLO: no proof is sent, the bind fails naming both keys", async () => {
    const { relay, logs } = await relayWithLogs("impostor");
    const expected = generatePrivateKey();
    const { bind, publicKey } = await bindTo(relay.url, { relayKey: expected });
    await expect(bind.open(() => {})).rejects.toThrow(
      `relay ${relay.url} presented key ${keyToBase64(relay.relayPublicKey)}, but ` +
        `${keyToBase64(expected)} is pinned: not proving our key to it (another relay, or a machine in the middle)`,
    );
    expect(bind.state).toBe("failed");
    expect(bind.stats.connectAttempts).toBe(1); // final: no retry
    // The relay saw the client close with 4403, and no CLIENT_HELLO before it.
    const events = () => logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    const closedEvent = () => events().find((e) => String(e.event).startsWith("closed"));
    await expect.poll(closedEvent).toBeDefined();
    expect(closedEvent()).toMatchObject({
      code: CLOSE_RELAY_KEY_MISMATCH,
      reason: "relay key mismatch",
    });
    expect(events().filter((e) => String(e.event).startsWith("hello"))).toEqual([]);
    expect(logs.join("\n")).not.toContain(publicKey);
  });

  it("a hostile relay passing another relay's hello through: logs in as us unpinned, not pinned", async () => {
    const victim = await relayWithLogs("victim");
    const hostile = await passThroughRelay(victim.relay.url);
    // Unpinned (the old behaviour): the client proves its key for whatever key it is shown,
    // and the hostile relay becomes this node on the victim relay.
    const unpinned = await bindTo(hostile.url);
    await unpinned.bind.open(() => {});
    expect(hostile.seen.welcomedByVictim).toBe(true);
    expect(victim.logs.some((l) => l.includes(`"key":"${unpinned.publicKey}"`))).toBe(true);
    await unpinned.bind.close();

    // Pinned to the relay it meant to reach (the hostile one's own key): refused before a proof.
    hostile.seen.welcomedByVictim = false;
    hostile.seen.clientHellos = 0;
    const meant = await nodeX25519.publicKey(generatePrivateKey());
    const pinned = await bindTo(pinnedRelayUrl(hostile.url, meant));
    await expect(pinned.bind.open(() => {})).rejects.toThrow(
      `presented key ${keyToBase64(victim.relay.relayPublicKey)}, but ${keyToBase64(meant)} is pinned`,
    );
    expect(hostile.seen.clientHellos).toBe(0);
    expect(hostile.seen.welcomedByVictim).toBe(false);
    expect(victim.logs.some((l) => l.includes(`"key":"${pinned.publicKey}"`))).toBe(false);
  });
});

describe("the engine shows the warning and the pin failure in the network's status", () => {
  const peerKey = () => keyToBase64(generatePrivateKey());
  const config = (privateKey: string) =>
    `[Interface]\nPrivateKey = ${privateKey}\nAddress = 100.64.0.9/32\n` +
    `[Peer]\nPublicKey = ${peerKey()}\nAllowedIPs = 100.64.0.1/32\n`;

  it("a non-loopback ws:// relay: running, with relay.warning; a wrong pin: error naming both keys", async () => {
    const { relay } = await relayWithLogs("engine-pin");
    // "relay.example" is this relay: the engine's socket factory is pointed at it, so the
    // URL the engine judges is a non-loopback one while the bytes stay on this machine.
    const connect = nodeRelayConnect();
    const warnings: string[] = [];
    const originalWarn = console.warn;
    console.warn = (text: string) => warnings.push(text);
    cleanup.push(() => {
      console.warn = originalWarn;
    });
    const engine = createEngine({
      store: new MemoryStore(),
      connect: (url, protocol) =>
        connect(url.replace("ws://relay.example/relay", relay.url), protocol),
      x25519: nodeX25519,
      defaultRelayUrl: "ws://relay.example/relay",
    });
    const good = await engine.importNetwork(config(keyToBase64(generatePrivateKey())), {
      name: "warned",
      persist: false,
      relayUrl: pinnedRelayUrl("ws://relay.example/relay", relay.relayPublicKey),
    });
    cleanup.push(() => engine.removeNetwork(good.id));
    const status = await engine.startNetwork(good.id);
    expect(status.state).toBe("running");
    expect(status.relay.warning).toBe(
      "relay ws://relay.example/relay is reached over unencrypted ws://: anyone on the way can " +
        "read the relay token and watch, delay, drop or take over this relay connection " +
        "(WireGuard still encrypts the packets inside it); use wss://relay.example/relay",
    );
    expect(warnings).toEqual([`corridor: ${status.relay.warning}`]);

    const wrong = keyToBase64(generatePrivateKey());
    const bad = await engine.importNetwork(config(keyToBase64(generatePrivateKey())), {
      name: "mispinned",
      persist: false,
      relayUrl: `${relay.url}#key=${wrong}`,
    });
    cleanup.push(() => engine.removeNetwork(bad.id));
    const failed = await engine.startNetwork(bad.id);
    expect(failed.state).toBe("error");
    expect(failed.error).toContain(
      `presented key ${keyToBase64(relay.relayPublicKey)}, but ${wrong} is pinned`,
    );
    expect(failed.relay.warning).toBeUndefined(); // loopback: nothing to warn about

    await expect(
      engine.importNetwork(config(keyToBase64(generatePrivateKey())), {
        name: "typo",
        persist: false,
        relayUrl: `${relay.url}#key=not-a-key`,
      }),
    ).rejects.toThrow("#key=: not a WireGuard key");
  });
});
