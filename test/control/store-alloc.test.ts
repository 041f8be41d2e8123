// The store's pure helpers: DNS labels from hostnames, the mesh's address plan (ULA /48 and
// IPv4 in its low 32 bits), database URLs, first-start settings, and the allocation loop's
// retries (on an in-memory SQLite store). Parsers of outside text are fuzzed (seeded).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import {
  IPV4_CAPACITY,
  IPV4_FIRST,
  IPV4_LAST,
  ipv6ForIpv4,
  parseUlaPrefix,
  randomUlaPrefix,
} from "../../server/control/store/addresses.ts";
import {
  AddressesExhaustedError,
  createNodeAllocated,
} from "../../server/control/store/allocate.ts";
import { dnsLabel, isDnsLabel } from "../../server/control/store/names.ts";
import { parseStoreUrl } from "../../server/control/store/open.ts";
import { checkSettings, newSettings } from "../../server/control/store/settings.ts";
import { ipv4Number, splitName } from "../../server/control/store/sql-base.ts";
import { openSqliteStore } from "../../server/control/store/sqlite.ts";
import { StoreConflictError, type StoreTx } from "../../server/control/store/types.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

const PREFIX = "fd7a:115c:a1e0::/48";

/** A random string over pieces that stress each parser (seeded). */
function randomText(next: (bound: number) => number, pieces: readonly string[], max: number) {
  return Array.from({ length: next(max) }, () => pieces[next(pieces.length)]).join("");
}

describe("names", () => {
  it("makes a DNS label from a hostname", () => {
    const cases: [string, string][] = [
      ["Web-01.example.com", "web-01"],
      ["web_01", "web-01"],
      ["Müller's  Laptop", "m-ller-s-laptop"],
      ["--edge--", "edge"],
      ["", "node"],
      [".hidden", "node"],
      ["😀", "node"],
      ["a".repeat(100), "a".repeat(63)],
      [`${"a".repeat(62)}-b`, "a".repeat(62)],
    ];
    for (const [hostname, label] of cases)
      expect([hostname, dnsLabel(hostname)]).toEqual([hostname, label]);
    expect(isDnsLabel("web-01")).toBe(true);
    for (const bad of ["", "-a", "a-", "A", "a.b", "a_b", "a".repeat(64)])
      expect(isDnsLabel(bad)).toBe(false);
  });

  it("splits names into stem and suffix number the way the index stores them", () => {
    expect(splitName("web-01-2")).toEqual(["web-01", 2]);
    expect(splitName("web-01")).toEqual(["web-01", 1]);
    expect(splitName("web-1")).toEqual(["web-1", 1]);
    expect(splitName("web-02")).toEqual(["web-02", 1]);
    expect(splitName("web-2-10")).toEqual(["web-2", 10]);
    expect(splitName("-3")).toEqual(["-3", 1]);
    expect(splitName("a-1234567890123456")).toEqual(["a-1234567890123456", 1]);
  });

  it("fuzz: every hostname gives a valid label, and a label is its own label", () => {
    const next = seededInts(0xd115);
    const pieces = [
      "a",
      "Z",
      "0",
      "-",
      "_",
      ".",
      " ",
      "é",
      "ß",
      "\u0000",
      "\u200b",
      "😀",
      "--",
      "x".repeat(30),
    ];
    let tried = 0;
    for (let i = 0; i < 100_000; i++) {
      const label = dnsLabel(randomText(next, pieces, 12));
      tried++;
      if (!isDnsLabel(label) || dnsLabel(label) !== label)
        throw new Error(`bad label '${label}' (input ${i})`);
    }
    console.log(`dnsLabel fuzz: ${tried} hostnames tried`);
  });
});

describe("addresses", () => {
  it("generates a ULA /48 from 40 random bits and maps IPv4 into its low 32 bits", () => {
    expect(randomUlaPrefix(() => Uint8Array.of(0x7a, 0x11, 0x5c, 0xa1, 0xe0))).toBe(PREFIX);
    expect(randomUlaPrefix(() => new Uint8Array(5))).toBe("fd00::/48");
    expect(Array.from(parseUlaPrefix(PREFIX))).toEqual([0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0]);
    expect(ipv6ForIpv4(PREFIX, IPV4_FIRST)).toBe("fd7a:115c:a1e0::6440:1");
    expect(ipv6ForIpv4(PREFIX, IPV4_LAST)).toBe("fd7a:115c:a1e0::647f:fffe");
    expect(ipv6ForIpv4("fd00::/48", "100.64.0.0")).toBe("fd00::6440:0");
    expect(ipv4Number(IPV4_LAST) - ipv4Number(IPV4_FIRST) + 1).toBe(IPV4_CAPACITY);
  });

  it("refuses what is not a ULA /48, naming ipv6Prefix", () => {
    const cases: [string, string][] = [
      ["fd00::/64", "ipv6Prefix 'fd00::/64': not a /48 prefix"],
      ["fd00::", "ipv6Prefix 'fd00::': not a /48 prefix"],
      ["fc00::/48", "ipv6Prefix 'fc00::/48': not a ULA prefix (fd00::/8)"],
      ["10.0.0.0/48", "ipv6Prefix '10.0.0.0/48': not a ULA prefix (fd00::/8)"],
      ["fd00:0:0:1::/48", "ipv6Prefix 'fd00:0:0:1::/48': bits beyond the first 48 are set"],
    ];
    for (const [prefix, message] of cases)
      expect(() => parseUlaPrefix(prefix)).toThrow(new TypeError(message));
    expect(() => parseUlaPrefix("fd0g::/48")).toThrow(/^ipv6Prefix 'fd0g::\/48': /);
  });

  it("fuzz: prefixes and URLs are parsed or refused with a TypeError, nothing else", () => {
    const next = seededInts(0xadd5);
    const pieces = [
      "fd",
      "00",
      ":",
      "::",
      "/",
      "48",
      "f",
      "g",
      ".",
      "1",
      "sqlite:",
      "postgres://",
      "://",
      "x",
      "\u0000",
      "%",
    ];
    let tried = 0;
    for (let i = 0; i < 50_000; i++) {
      const text = randomText(next, pieces, 10);
      for (const parse of [parseUlaPrefix, parseStoreUrl]) {
        tried++;
        try {
          parse(text);
        } catch (error) {
          if (!(error instanceof TypeError))
            throw new Error(`input ${JSON.stringify(text)}: ${error}`);
        }
      }
    }
    console.log(`prefix/URL fuzz: ${tried} inputs tried`);
  });
});

describe("database URLs", () => {
  it("picks the adapter from the URL, and refuses unknown schemes", () => {
    expect(parseStoreUrl("sqlite:/var/lib/corridor/control.db")).toEqual({
      kind: "sqlite",
      path: "/var/lib/corridor/control.db",
    });
    expect(parseStoreUrl("sqlite::memory:")).toEqual({ kind: "sqlite", path: ":memory:" });
    expect(parseStoreUrl("data/control.db")).toEqual({ kind: "sqlite", path: "data/control.db" });
    expect(parseStoreUrl("postgres://u:p@h/db")).toEqual({
      kind: "postgres",
      url: "postgres://u:p@h/db",
    });
    expect(parseStoreUrl("postgresql://h/db")).toEqual({
      kind: "postgres",
      url: "postgresql://h/db",
    });
    expect(() => parseStoreUrl("mysql://h/db")).toThrow(
      new TypeError(
        "database URL scheme 'mysql' is not supported: use sqlite:PATH, a file path, or postgres://...",
      ),
    );
    expect(() => parseStoreUrl("sqlite:")).toThrow(
      new TypeError("database URL 'sqlite:' names no file: use sqlite:PATH"),
    );
    expect(() => parseStoreUrl("")).toThrow(
      new TypeError("database URL is empty: use sqlite:PATH, a file path, or postgres://..."),
    );
  });
});

describe("settings", () => {
  it("are generated valid, and stored ones are checked field by field", () => {
    const settings = newSettings(seededBytes(7));
    expect(checkSettings(settings)).toBe(settings);
    expect(settings.domain).toBe("corridor.internal");
    expect(settings.tokenSigningKey).not.toBe(settings.helloKey);
    expect(() => checkSettings({ ...settings, helloKey: "AAAA" })).toThrow(
      new Error("stored settings: helloKey is not 32 bytes of base64"),
    );
    expect(() => checkSettings({ ...settings, tokenSigningKey: `${settings.helloKey}x` })).toThrow(
      new Error("stored settings: tokenSigningKey is not 32 bytes of base64"),
    );
    expect(() => checkSettings({ ...settings, domain: "Bad_Domain" })).toThrow(
      new Error("stored settings: domain 'Bad_Domain' is not a DNS name"),
    );
    expect(() => checkSettings({ ...settings, ipv6Prefix: "fd00::/64" })).toThrow(
      new Error("stored settings: ipv6Prefix 'fd00::/64': not a /48 prefix"),
    );
  });
});

describe("allocation loop", () => {
  const agent = (nodeKey: string) => ({
    nodeKey,
    userId: null,
    tags: ["tag:server"],
    hostname: "build-01",
    os: "linux",
    ephemeral: false,
    keyExpiry: null,
    sshHostKeys: [],
    lastSeen: null,
    authKeyId: null,
  });

  it("picks again after losing a race for a name or an address", async () => {
    const store = await openSqliteStore(":memory:");
    const first = await createNodeAllocated(store, agent("k1"), PREFIX);
    expect([first.name, first.ipv4, first.ipv6]).toEqual([
      "build-01",
      "100.64.0.1",
      "fd7a:115c:a1e0::6440:1",
    ]);
    // A racing registration saw the state before `first` was written: the same answers once.
    let stale = 2;
    const racing: StoreTx = {
      ...store,
      nextNodeName: async (stem) => (stale-- > 1 ? "build-01" : store.nextNodeName(stem)),
      freeIpv4: async (lo, hi) => (stale > 0 ? "100.64.0.1" : store.freeIpv4(lo, hi)),
    };
    const second = await createNodeAllocated(racing, agent("k2"), PREFIX);
    expect([second.name, second.ipv4]).toEqual(["build-01-2", "100.64.0.2"]);
    await store.close();
  });

  it("an insert that meets a row gone before its lookup is an allocation conflict, retried", async () => {
    // A row that blocks the insert and is gone when the conflict is looked up is a race with a
    // removal; a trigger that drops the insert silently plays it here, every time.
    const dir = mkdtempSync(join(tmpdir(), "corridor-alloc-"));
    const file = join(dir, "control.db");
    try {
      const first = await openSqliteStore(file);
      await first.close();
      const db = new Database(file);
      db.exec(`CREATE TRIGGER vanish BEFORE INSERT ON nodes WHEN NEW.hostname = 'vanish'
        BEGIN SELECT RAISE(IGNORE); END`);
      db.close();
      const store = await openSqliteStore(file);
      const once = await store
        .createNode({
          ...agent("k9"),
          hostname: "vanish",
          name: "vanish",
          ipv4: "100.64.0.9",
          ipv6: "fd00:1:2::6440:9",
        })
        .catch((e: unknown) => e);
      expect(once).toMatchObject({
        field: "allocation",
        message:
          "a concurrent change took this node's key, name or address, then removed it: try again",
      });
      let attempts = 0;
      const counting: StoreTx = {
        ...store,
        createNode: (node) => {
          attempts++;
          return store.createNode(node);
        },
      };
      const error = await createNodeAllocated(
        counting,
        { ...agent("k9"), hostname: "vanish" },
        PREFIX,
        5,
      ).catch((e: unknown) => e);
      expect(error).toMatchObject({ field: "allocation" });
      expect(attempts).toBe(5);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("does not retry a taken node key, and says when addresses run out", async () => {
    const store = await openSqliteStore(":memory:");
    await createNodeAllocated(store, agent("k1"), PREFIX);
    const error = await createNodeAllocated(store, agent("k1"), PREFIX).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreConflictError);
    expect(error).toMatchObject({ field: "nodeKey", message: "a node with this key exists" });
    const full: StoreTx = { ...store, freeIpv4: async () => null };
    await expect(createNodeAllocated(full, agent("k2"), PREFIX)).rejects.toThrow(
      new AddressesExhaustedError(),
    );
    expect(new AddressesExhaustedError().message).toBe(
      "all 4194302 IPv4 addresses of 100.64.0.0/10 are taken: remove nodes first",
    );
    await store.close();
  });
});
