// The recipient's page reads a share link (`/s/<id>#<secret>`, issue 17) from the address: the id
// from the path, the secret from the fragment. Anyone can make a link to the page, so the parser
// is fuzzed with hostile paths and fragments (seeded, bounded): it never throws, and whatever it
// accepts is exactly a share id and a secret of base64url characters, nothing that could carry
// markup, a path or an escape. The secret kept across a sign-in is for one share and read once.

import { describe, expect, it } from "vitest";
import { sitePath } from "../../server/web/static.ts";
import {
  cleanSharePath,
  isSharePath,
  keepSecretForSignIn,
  parseShareLocation,
  SHARE_SECRET_KEY,
  takeKeptSecret,
} from "../../web/share/share-link.ts";
import { seededInts } from "../helpers/seeded.ts";

const ID = "AbCdEfGhIjKlMnOpQrStUv"; // 22 characters, as the server makes them
const SECRET = "s3cr3t-_s3cr3t-_s3cr3t-_s3cr3t-_s3cr3t-_abc"; // 43

class MemoryStorage {
  readonly map = new Map<string, string>();
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.map.set(key, value);
  }
  removeItem(key: string): void {
    this.map.delete(key);
  }
}

describe("parseShareLocation", () => {
  it("reads the id from the path and the secret from the fragment", () => {
    expect(parseShareLocation(`/s/${ID}`, `#${SECRET}`)).toEqual({
      kind: "share",
      id: ID,
      secret: SECRET,
    });
    expect(parseShareLocation(`/s/${ID}/`, `#${SECRET}`)).toEqual({
      kind: "share",
      id: ID,
      secret: SECRET,
    });
  });

  it("a share path without a fragment has no secret (a reload, back from a sign-in)", () => {
    expect(parseShareLocation(`/s/${ID}`, "")).toEqual({ kind: "no-secret", id: ID });
    expect(parseShareLocation(`/s/${ID}`, "#")).toEqual({ kind: "no-secret", id: ID });
  });

  it("anything else under /s/ is one answer: a bad link", () => {
    for (const [path, hash] of [
      ["/s/", `#${SECRET}`],
      ["/s/short", `#${SECRET}`],
      [`/s/${ID}/extra`, `#${SECRET}`],
      [`/s/${ID}%2F..`, `#${SECRET}`],
      [`/s/${ID}`, "#/mesh"],
      [`/s/${ID}`, "#short"],
      [`/s/${ID}`, `#${SECRET}<script>`],
      [`/s/${ID}`, `#${SECRET}#${SECRET}`],
      [`/s/${ID}`, `#${"a".repeat(600)}`],
      [`/x/${ID}`, `#${SECRET}`],
      [`/s/${"a".repeat(65)}`, `#${SECRET}`],
    ] as const) {
      expect(parseShareLocation(path, hash), `${path} ${hash}`).toEqual({ kind: "bad" });
    }
  });

  it("the page is the share page for paths under /s/ only; the clean path drops the fragment", () => {
    expect(isSharePath(`/s/${ID}`)).toBe(true);
    expect(isSharePath("/")).toBe(false);
    expect(isSharePath("/sx")).toBe(false);
    expect(cleanSharePath(ID)).toBe(`/s/${ID}`);
    expect(cleanSharePath(ID, "?engine=worker")).toBe(`/s/${ID}?engine=worker`);
  });

  it("hostile paths and fragments: never throws, accepts only base64url ids and secrets", () => {
    const int = seededInts(0x5a17e);
    const alphabet = [
      ..."AZaz09-_/#%.:@?&=<>\"' \t\n\r\0\u202e\u200b\ufeff\\é😀",
      "%2F",
      "%00",
      "..",
      "/s/",
      ID,
      SECRET,
      "javascript:",
    ];
    const piece = (max: number) =>
      Array.from({ length: int(max) }, () => alphabet[int(alphabet.length)]!).join("");
    const runs = 20_000;
    let accepted = 0;
    for (let i = 0; i < runs; i++) {
      const path = int(3) === 0 ? piece(40) : `/s/${int(2) === 0 ? ID : piece(30)}${piece(3)}`;
      const hash = int(4) === 0 ? `#${SECRET}` : `#${piece(int(2) === 0 ? 60 : 700)}`;
      const result = parseShareLocation(path, hash);
      if (result.kind === "bad") continue;
      expect(result.id).toMatch(/^[A-Za-z0-9_-]{16,64}$/);
      if (result.kind === "share") {
        accepted++;
        expect(result.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(`#${result.secret}`).toBe(hash);
      }
    }
    console.log(`share link fuzz: ${runs} hostile locations, ${accepted} read as a share`);
    expect(accepted).toBeGreaterThan(0);
  });
});

describe("corridor serve", () => {
  it("serves the page at a share's path, and nothing else under /s/", () => {
    expect(sitePath(`/s/${ID}`)).toEqual({ ok: true, path: "/index.html" });
    expect(sitePath(`/s/${ID}/`)).toEqual({ ok: true, path: "/index.html" });
    expect(sitePath(`/s/${ID}?x=1`)).toEqual({ ok: true, path: "/index.html" });
    expect(sitePath(`/s/${ID}/x`)).toEqual({ ok: true, path: `/s/${ID}/x` });
    expect(sitePath("/s/short")).toEqual({ ok: true, path: "/s/short" });
    expect(sitePath(`/s/${ID}/..`).ok).toBe(false);
  });
});

describe("the secret across a sign-in", () => {
  it("is kept for one share, read once", () => {
    const storage = new MemoryStorage();
    expect(keepSecretForSignIn(storage, ID, SECRET)).toBe(true);
    expect(takeKeptSecret(storage, "another-share-id-0000")).toBeNull();
    // Read (and removed) whatever share asked: it never lingers.
    expect(storage.map.has(SHARE_SECRET_KEY)).toBe(false);
    keepSecretForSignIn(storage, ID, SECRET);
    expect(takeKeptSecret(storage, ID)).toBe(SECRET);
    expect(takeKeptSecret(storage, ID)).toBeNull();
  });

  it("stored junk is no secret", () => {
    const storage = new MemoryStorage();
    for (const junk of ["{", "null", "[]", `{"id":"${ID}","secret":"<b>"}`, `{"id":"${ID}"}`]) {
      storage.setItem(SHARE_SECRET_KEY, junk);
      expect(takeKeptSecret(storage, ID), junk).toBeNull();
    }
  });

  it("without storage, nothing is kept and nothing throws", () => {
    const broken = {
      getItem: () => {
        throw new Error("denied");
      },
      setItem: () => {
        throw new Error("denied");
      },
      removeItem: () => {
        throw new Error("denied");
      },
    };
    expect(keepSecretForSignIn(broken, ID, SECRET)).toBe(false);
    expect(takeKeptSecret(broken, ID)).toBeNull();
  });
});
