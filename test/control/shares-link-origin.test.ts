// Where a share's link points (server/control/api/shares.ts): at the origin of the sharer's page
// when that is one of the server's own origins (the page at 127.0.0.1 or at corridor.localhost:
// only there do shared web services open, their origins being its subdomains); made with an API
// key (no Origin) on a server whose page lives at corridor.localhost, there; else at the
// server's base URL.

import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { createApiKeyLocal } from "../../server/control/auth/apikeys.ts";
import { loadOrInitSettings } from "../../server/control/store/settings.ts";
import { type Browser, type Harness, startHarness } from "./api-harness.ts";

const PAGE = "http://corridor.localhost:8123";
let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function setup(
  browserOrigins?: string[],
): Promise<{ h: Harness; owner: Browser; node: number }> {
  const harness = await startHarness(browserOrigins === undefined ? {} : { browserOrigins });
  h = harness;
  await loadOrInitSettings(harness.store);
  const owner = await harness.signInOwner();
  const node = await harness.store.createNode({
    nodeKey: randomBytes(32).toString("base64"),
    userId: owner.userId,
    tags: [],
    name: "devbox",
    hostname: "devbox",
    os: "linux",
    ipv4: "100.64.0.9",
    ipv6: "fd00:9::9",
    ephemeral: false,
    keyExpiry: null,
    sshHostKeys: [],
    sshUsers: null,
    lastSeen: null,
    authKeyId: null,
  });
  return { h: harness, owner, node: node.id };
}

const linkOrigin = (url: string) => new URL(url).origin;

describe("a share's link", () => {
  it("points at the sharer's page: 127.0.0.1 or corridor.localhost, whichever made it", async () => {
    const { h, owner, node } = await setup([PAGE]);
    const body = { nodeId: node, ports: [8080] };
    const fromListen = await h.call("POST", "/api/v1/shares", {
      body,
      cookie: owner.cookie,
      csrf: owner.csrf,
    });
    expect(fromListen.status, fromListen.text).toBe(201);
    expect(linkOrigin(fromListen.json.url)).toBe(h.origin);
    const fromPage = await h.call("POST", "/api/v1/shares", {
      body,
      cookie: owner.cookie,
      csrf: owner.csrf,
      origin: PAGE,
    });
    expect(fromPage.status, fromPage.text).toBe(201);
    expect(fromPage.json.url).toMatch(
      new RegExp(`^${PAGE}/s/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}$`),
    );
  });

  it("made with an API key: at corridor.localhost when the page lives there, else the base URL", async () => {
    const loopback = await setup([PAGE]);
    const key = (await createApiKeyLocal(loopback.h.store, loopback.owner.userId)).key;
    const made = await loopback.h.call("POST", "/api/v1/shares", {
      body: { nodeId: loopback.node, ports: [8080] },
      bearer: key,
    });
    expect(made.status, made.text).toBe(201);
    expect(linkOrigin(made.json.url)).toBe(PAGE);
    await loopback.h.close();
    h = undefined;

    const plain = await setup();
    const plainKey = (await createApiKeyLocal(plain.h.store, plain.owner.userId)).key;
    const there = await plain.h.call("POST", "/api/v1/shares", {
      body: { nodeId: plain.node, ports: [8080] },
      bearer: plainKey,
    });
    expect(there.status, there.text).toBe(201);
    expect(linkOrigin(there.json.url)).toBe(plain.h.origin);
  });

  it("an Origin that is not the server's is refused, not used for the link", async () => {
    const { h, owner, node } = await setup([PAGE]);
    const evil = await h.call("POST", "/api/v1/shares", {
      body: { nodeId: node, ports: [8080] },
      cookie: owner.cookie,
      csrf: owner.csrf,
      origin: "http://evil.localhost:8123",
    });
    expect(evil.status).toBe(403);
    expect(evil.json.error).toBe("origin_refused");
  });
});
