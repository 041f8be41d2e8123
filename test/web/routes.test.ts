// The page's routes (web/router.ts): every screen has a fragment, parseRoute(formatRoute(r))
// gives r back, and hostile fragments (any site can link here) are "invalid" with a reason,
// never a throw. Fuzzed with seeded fragments; the mesh hosts' search and filters too.

import { describe, expect, it } from "vitest";
import { ADMIN_SECTIONS, formatRoute, parseRoute, type Route } from "../../web/router.ts";
import { filterHosts, pathText } from "../../web/views/mesh-filter.ts";
import type { MeshHost } from "../../worker/api.ts";
import { seededInts } from "../helpers/seeded.ts";

const ID = "3f2b8a9e-1c4d-4e5f-8a6b-7c8d9e0f1a2b";

describe("parseRoute", () => {
  it("reads every screen's fragment", () => {
    const cases: [string, Route][] = [
      ["", { kind: "home" }],
      ["#", { kind: "home" }],
      ["#/", { kind: "home" }],
      ["#/mesh", { kind: "mesh" }],
      ["#/mesh/host/web-01", { kind: "mesh-host", name: "web-01" }],
      ["#/mesh/host/web-01.corp.example", { kind: "mesh-host", name: "web-01.corp.example" }],
      [`#/network/${ID}`, { kind: "network", id: ID }],
      [`#/network/${ID}/details`, { kind: "network-details", id: ID }],
      ["#/network/add", { kind: "network-add" }],
      ["#/admin/policy", { kind: "admin", section: "policy" }],
      [
        "#/ssh/root@web-01",
        { kind: "ssh", link: { user: "root", host: "web-01", port: 22 }, net: null },
      ],
      [
        `#/ssh/ops@10.8.0.1:2222?net=${ID}`,
        { kind: "ssh", link: { user: "ops", host: "10.8.0.1", port: 2222 }, net: ID },
      ],
    ];
    for (const [hash, route] of cases) expect(parseRoute(hash), hash).toEqual(route);
  });

  it("says what is wrong with fragments that are no route", () => {
    const cases: [string, RegExp][] = [
      ["#mesh", /starts with #\//],
      ["#/meshes", /no such address/],
      ["#/mesh/host/", /mesh host is named/],
      ["#/mesh/host/web 01", /mesh host is named/],
      ["#/mesh/host/%E0%A4%A", /mesh host is named/],
      ["#/mesh/host/a/b", /no such address/],
      ["#/network/../details", /not a network id/],
      [`#/network/${ID}/peers`, /no such address/],
      ["#/admin/root", /admin sections are nodes, users, keys, policy, audit/],
      ["#/admin", /no such address/],
      ["#/ssh/root@web-01?net=../x", /\?net= names a network id/],
      ["#/ssh/root@", /expected #\/ssh\/USER@HOST/],
      [`#/${"a".repeat(2000)}`, /too long/],
    ];
    for (const [hash, reason] of cases) {
      const route = parseRoute(hash);
      expect(route.kind, hash).toBe("invalid");
      if (route.kind === "invalid") {
        expect(route.reason, hash).toMatch(reason);
        expect(route.hash.length).toBeLessThanOrEqual(200);
      }
    }
  });

  it("formatRoute and parseRoute are inverse for every kind of route", () => {
    const routes: Route[] = [
      { kind: "home" },
      { kind: "mesh" },
      { kind: "mesh-host", name: "db-01.mesh.example" },
      { kind: "network", id: ID },
      { kind: "network-details", id: ID },
      { kind: "network-add" },
      ...ADMIN_SECTIONS.map((section): Route => ({ kind: "admin", section })),
      { kind: "ssh", link: { user: "a@b", host: "fd00::1", port: 2200 }, net: null },
      { kind: "ssh", link: { user: "ünï", host: "web-01", port: 22 }, net: ID },
    ];
    for (const route of routes) expect(parseRoute(formatRoute(route))).toEqual(route);
  });

  it("fuzz: 20,000 seeded fragments never throw; what parses formats back to itself", () => {
    const next = seededInts(0x15_05);
    const pieces = [
      "#",
      "/",
      "#/",
      "mesh",
      "host",
      "network",
      "add",
      "details",
      "admin",
      "nodes",
      "ssh",
      "@",
      ":",
      "?net=",
      "%",
      "%40",
      "%E0",
      "..",
      "[",
      "]",
      "\u0000",
      "\u202e",
      " ",
      "web-01",
      ID,
      "22",
      "99999",
      "root",
      ".",
      "-",
      "\n",
      "ö",
      "?",
      "&",
      "#/ssh/",
      "#/mesh/host/",
    ];
    const templates = [
      "#/mesh",
      "#/mesh/host/web-01",
      `#/network/${ID}`,
      `#/network/${ID}/details`,
      "#/network/add",
      "#/admin/nodes",
      "#/ssh/root@web-01",
      `#/ssh/ops@[fd00::1]:2222?net=${ID}`,
    ];
    const randomChar = () =>
      next(4) === 0 ? String.fromCharCode(next(0x3000)) : pieces[next(pieces.length)]!;
    let valid = 0;
    for (let i = 0; i < 20_000; i++) {
      let hash: string;
      if (next(2) === 0) {
        // A real route with up to two edits (insert, delete or replace at a random place).
        hash = templates[next(templates.length)]!;
        for (let edits = next(3); edits > 0; edits--) {
          const at = next(hash.length + 1);
          const cut = next(3) === 0 ? 0 : 1;
          hash = hash.slice(0, at) + (next(3) === 0 ? "" : randomChar()) + hash.slice(at + cut);
        }
      } else {
        hash = next(3) === 0 ? "" : "#/";
        for (let parts = 1 + next(8); parts > 0; parts--) hash += randomChar();
      }
      const route = parseRoute(hash);
      if (route.kind === "invalid") {
        expect(route.reason.length).toBeGreaterThan(0);
        expect(route.hash.length).toBeLessThanOrEqual(200);
        continue;
      }
      valid++;
      expect(parseRoute(formatRoute(route)), hash).toEqual(route);
      if (route.kind === "mesh-host") expect(route.name).toMatch(/^[A-Za-z0-9.-]{1,253}$/);
      if (route.kind === "ssh") {
        expect(route.link.user).not.toMatch(/[\s\p{Cc}\p{Cf}]/u);
        expect(route.link.port).toBeGreaterThanOrEqual(1);
        expect(route.link.port).toBeLessThanOrEqual(65535);
      }
    }
    // The generator reaches real routes too, not only refusals.
    expect(valid).toBeGreaterThan(500);
  });
});

function host(name: string, fields: Partial<MeshHost> = {}): MeshHost {
  return {
    id: 1,
    key: "k",
    name,
    hostname: name,
    addresses: ["100.64.0.9"],
    os: "linux",
    tags: [],
    owner: null,
    ephemeral: false,
    online: false,
    lastSeen: null,
    path: "none",
    rttMs: null,
    lastHandshake: null,
    identitySsh: true,
    ...fields,
  };
}

describe("filterHosts", () => {
  const hosts = [
    host("web-02", { online: true, tags: ["tag:server"], addresses: ["100.64.0.2"] }),
    host("db-01", {
      tags: ["tag:db"],
      owner: { id: 2, name: "Alice", email: "alice@example.com" },
    }),
    host("web-01", { online: true, tags: ["tag:server"], path: "direct", rttMs: 3.4 }),
  ];
  const names = (list: MeshHost[]) => list.map((h) => h.name);

  it("lists online hosts first, then by name; searches name, address, tag and owner", () => {
    const all = { query: "", onlineOnly: false, tag: "" };
    expect(names(filterHosts(hosts, all))).toEqual(["web-01", "web-02", "db-01"]);
    expect(names(filterHosts(hosts, { ...all, query: "100.64.0.2" }))).toEqual(["web-02"]);
    expect(names(filterHosts(hosts, { ...all, query: "ALICE" }))).toEqual(["db-01"]);
    expect(names(filterHosts(hosts, { ...all, query: "server 01" }))).toEqual(["web-01"]);
    expect(names(filterHosts(hosts, { ...all, onlineOnly: true }))).toEqual(["web-01", "web-02"]);
    expect(names(filterHosts(hosts, { ...all, tag: "tag:db" }))).toEqual(["db-01"]);
    expect(filterHosts(hosts, { ...all, query: "x".repeat(100_000) })).toEqual([]);
  });

  it("says the path and its round trip", () => {
    expect(pathText(hosts[2]!)).toBe("direct (WebRTC) · 3 ms");
    expect(pathText(hosts[0]!)).toBe("no traffic yet");
    expect(pathText(host("r", { path: "relay" }))).toBe("relay");
  });
});
