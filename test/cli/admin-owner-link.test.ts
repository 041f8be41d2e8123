// `corridor admin owner-link --data DIR` (cli/admin-local.ts): a new single-use owner link in
// the database, printed at corridor.localhost first when the server is on loopback (the page
// lives there for private URLs, as `corridor serve` prints it), then at the server's own URL;
// a non-loopback server gets its URL alone. Each printed link signs in (its hash is stored).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashSecret } from "../../server/control/auth/secrets.ts";
import { openStore } from "../../server/control/store/open.ts";
import { corridor } from "./agent-fake.ts";

describe("corridor admin owner-link", () => {
  let dir = "";
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "corridor-owner-link-"));
    const store = await openStore(join(dir, "control.db"));
    await store.close();
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The token of each `#...` link in the output, checked against the stored link hashes. */
  async function linksUsable(links: string[]): Promise<boolean[]> {
    const store = await openStore(join(dir, "control.db"));
    try {
      const out: boolean[] = [];
      for (const link of links) {
        const token = new URL(link).hash.slice(1);
        const found = await store.consumeLink(hashSecret(token), Date.now());
        out.push(found?.kind === "owner");
      }
      return out;
    } finally {
      await store.close();
    }
  }

  it("on loopback: the link at corridor.localhost first, then at the listen address", async () => {
    const run = await corridor([
      "admin",
      "owner-link",
      "--data",
      dir,
      "--server",
      "http://127.0.0.1:8123/",
    ]);
    expect(run.code, run.stderr).toBe(0);
    const text = run.stdout.toString();
    const page =
      /^Sign in as owner in the browser: (http:\/\/corridor\.localhost:8123\/login\/owner#\S+)\n/m.exec(
        text,
      )?.[1];
    const listen = /^Sign in as owner: (http:\/\/127\.0\.0\.1:8123\/login\/owner#\S+)\n/m.exec(
      text,
    )?.[1];
    expect(page, text).toBeDefined();
    expect(listen, text).toBeDefined();
    // One link, two addresses: the same single-use token.
    expect(new URL(page!).hash).toBe(new URL(listen!).hash);
    expect(await linksUsable([page!])).toEqual([true]);
  });

  it("a public server URL: that link alone", async () => {
    const run = await corridor([
      "admin",
      "owner-link",
      "--data",
      dir,
      "--server",
      "https://corridor.example.com/",
    ]);
    expect(run.code, run.stderr).toBe(0);
    const text = run.stdout.toString();
    expect(text).not.toContain("corridor.localhost");
    const link = /^Sign in as owner: (https:\/\/corridor\.example\.com\/login\/owner#\S+)\n$/.exec(
      text,
    )?.[1];
    expect(link, text).toBeDefined();
    expect(await linksUsable([link!])).toEqual([true]);
  });
});
