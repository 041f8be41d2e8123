// `corridor admin share` (the real binary) against an API on loopback (api-harness.ts): create
// prints the link alone (by node name or id; audiences, expiry, uses, note reach the share),
// list shows the shares and their acceptances (who, when, browser, online now; --json adds
// `online` to the API's answer), revoke ends one acceptance or the whole share; every bad
// command line is a usage error (exit 2, nothing sent), the server's refusals exit 1 with its
// sentence. And a seeded fuzz of the create options: fields or a UsageError, nothing else.

import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserOf } from "../../cli/admin-format.ts";
import { type ShareValues, shareCreateFields } from "../../cli/admin-share.ts";
import { UsageError } from "../../cli/args.ts";
import { loadOrInitSettings } from "../../server/control/store/settings.ts";
import { parseShareLink } from "../../worker/control/share-link.ts";
import { type Browser, type Harness, startHarness } from "../control/api-harness.ts";
import { seededInts } from "../helpers/seeded.ts";
import { corridor } from "./control-helpers.ts";
import { runMain } from "./run-main.ts";

let h: Harness;
let owner: Browser;
let key = "";
let deviceId = 0;
const onlineNodes = new Set<number>();

const wgKey = (): string => randomBytes(32).toString("base64");

beforeAll(async () => {
  h = await startHarness({
    inMemory: true,
    presence: (id) => ({ online: onlineNodes.has(id), lastSeen: null }),
  });
  await loadOrInitSettings(h.store);
  owner = await h.signInOwner();
  key = (
    await h.call("POST", "/api/v1/apikeys", { cookie: owner.cookie, csrf: owner.csrf, body: {} })
  ).json.key;
  const node = (name: string, ip: number, ssh: boolean) =>
    h.store.createNode({
      nodeKey: wgKey(),
      userId: owner.userId,
      tags: [],
      name,
      hostname: name,
      os: "linux",
      ipv4: `100.64.0.${ip}`,
      ipv6: `fd00:9::${ip}`,
      ephemeral: false,
      keyExpiry: null,
      sshHostKeys: ssh ? ["ssh-ed25519 AAAA"] : [],
      sshUsers: ["ada", "bob"],
      lastSeen: null,
      authKeyId: null,
    });
  deviceId = (await node("devbox", 9, true)).id;
  await node("plainbox", 10, false);
});
afterAll(async () => {
  await h?.close();
});

const run = (...args: string[]) =>
  corridor(["admin", "share", "--server", h.baseUrl, ...args], { CORRIDOR_API_KEY: key });

/** The share id of a link printed by `share create`. */
function idOf(stdout: string): string {
  const parsed = parseShareLink(stdout.trim());
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.link.id;
}

describe("corridor admin share", () => {
  it("create prints the link alone; the options reach the share", async () => {
    const made = await run(
      "create",
      "devbox",
      "--ssh-user",
      "ada",
      "--port",
      "8080",
      "--port",
      "22",
    );
    expect(made.status, made.stderr).toBe(0);
    expect(made.stdout).toMatch(
      new RegExp(`^${h.baseUrl.replace(/\/$/, "")}/s/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}\\n$`),
    );
    const share = await h.store.shareById(idOf(made.stdout));
    expect(share).toMatchObject({
      nodeId: deviceId,
      sshUsers: ["ada"],
      ports: [22, 8080],
      audience: "anyone",
      emails: [],
      maxUses: 1,
      note: "",
    });
    expect(share!.expiresAt - share!.createdAt).toBe(24 * 3600_000);

    const byId = await run(
      "create",
      String(deviceId),
      "--port",
      "3000",
      "--signed-in",
      "--uses",
      "unlimited",
      "--expires",
      "2h",
      "--note",
      "the staging app",
      "--json",
    );
    expect(byId.status, byId.stderr).toBe(0);
    const body = JSON.parse(byId.stdout);
    expect(body.url).toMatch(/\/s\//);
    expect(body.share).toMatchObject({
      audience: "signed-in",
      maxUses: null,
      note: "the staging app",
      ports: [3000],
      sshUsers: [],
    });
    expect(body.share.expiresAt - body.share.createdAt).toBe(2 * 3600_000);

    const emails = await run(
      "create",
      "DEVBOX",
      "--port",
      "80",
      "--email",
      "Zoe@Example.com",
      "--email",
      "max@example.com",
      "--uses",
      "3",
    );
    expect(emails.status, emails.stderr).toBe(0);
    expect(await h.store.shareById(idOf(emails.stdout))).toMatchObject({
      audience: "emails",
      emails: ["max@example.com", "zoe@example.com"],
      maxUses: 3,
    });
  });

  it("refuses bad command lines with the usage exit, before any call", async () => {
    const cases: [string[], RegExp][] = [
      [["create", "devbox"], /offer SSH \(--ssh-user USER\) or a TCP port \(--port P\), or both/],
      [["create", "--port", "80"], /usage: corridor admin share create NODE/],
      [["create", "devbox", "extra", "--port", "80"], /usage: corridor admin share create NODE/],
      [["create", "devbox", "--port", "0"], /--port '0': expected a TCP port from 1 to 65535/],
      [["create", "devbox", "--port", "65536"], /--port '65536'/],
      [["create", "devbox", "--port", "http"], /--port 'http'/],
      [["create", "devbox", "--ssh-user", "a b"], /--ssh-user 'a b': expected a local user name/],
      [
        ["create", "devbox", "--port", "80", "--anyone", "--signed-in"],
        /choose one of --anyone, --signed-in or --email/,
      ],
      [
        ["create", "devbox", "--port", "80", "--signed-in", "--email", "a@b.c"],
        /choose one of --anyone, --signed-in or --email/,
      ],
      [
        ["create", "devbox", "--port", "80", "--email", "nobody"],
        /--email 'nobody': expected an email/,
      ],
      [
        ["create", "devbox", "--port", "80", "--expires", "2w"],
        /--expires '2w': expected a duration/,
      ],
      [["create", "devbox", "--port", "80", "--uses", "0"], /--uses '0': expected how many people/],
      [["create", "devbox", "--port", "80", "--uses", "-1"], /--uses '-1'/],
      [["list", "extra"], /usage: corridor admin share list/],
      [["revoke"], /usage: corridor admin share revoke ID/],
      [["revoke", "short"], /'short' is not a share id/],
      [["revoke", "A".repeat(22), "--acceptance", "x"], /--acceptance 'x' is not an id/],
      [["frobnicate"], /unknown share command frobnicate/],
      [[], /which share command\? create, list or revoke/],
    ];
    // Through main in this process (run-main.ts): none touches the server, and 20 binary
    // starts took ~9 s in CI; the real binary still refuses one below, without an API key.
    const results = await Promise.all(
      cases.map(([args]) =>
        runMain(["admin", "share", "--server", h.baseUrl, ...args], "", {
          CORRIDOR_API_KEY: key,
        }),
      ),
    );
    for (const [i, [args, message]] of cases.entries()) {
      const result = results[i]!;
      expect(result.status, `${args.join(" ")}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stdout).toBe("");
    }
    // Checked before the API key: a bad command line says so even without one.
    const noKey = await corridor(["admin", "share", "create", "devbox", "--server", h.baseUrl]);
    expect(noKey.status).toBe(2);
    expect(noKey.stderr).toMatch(/offer SSH/);
  });

  it("the server's refusals exit 1 with its sentence", async () => {
    const unknown = await run("create", "nosuchbox", "--port", "80");
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe(
      "corridor admin: no node called 'nosuchbox' that this API key may manage (corridor admin nodes lists them)\n",
    );
    const noSsh = await run("create", "plainbox", "--ssh-user", "ada");
    expect(noSsh.status).toBe(1);
    expect(noSsh.stderr).toMatch(
      /^corridor admin: sharing SSH needs the Corridor agent's SSH server on plainbox .*\(\d+ share_ssh_unavailable\)\n$/,
    );
    const user = await run("create", "devbox", "--ssh-user", "root");
    expect(user.status).toBe(1);
    expect(user.stderr).toMatch(/devbox's SSH server cannot log in as root/);
    const expiry = await run("create", "devbox", "--port", "80", "--expires", "31d");
    expect(expiry.status).toBe(1);
    expect(expiry.stderr).toMatch(/expiry: from 1 minute to 30 days/);
    const gone = await run("revoke", "B".repeat(22));
    expect(gone.status).toBe(1);
    expect(gone.stderr).toMatch(/share_not_found/);
  });

  it("list shows acceptances (who, when, browser, online); revoke ends one, then the share", async () => {
    const made = await run(
      "create",
      "devbox",
      "--ssh-user",
      "bob",
      "--uses",
      "2",
      "--note",
      "demo",
    );
    const id = idOf(made.stdout);
    const parsed = parseShareLink(made.stdout.trim());
    if (!parsed.ok) throw new Error(parsed.message);
    const accept = (agent: string) =>
      h.call("POST", `/api/v1/shares/${id}/accept`, {
        body: { secret: parsed.link.secret, nodeKey: wgKey(), hostname: "laptop" },
        origin: h.origin,
        headers: { "user-agent": agent },
      });
    const first = await accept(
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    );
    expect(first.status, JSON.stringify(first.json)).toBe(201);
    const second = await accept(
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0",
    );
    expect(second.status).toBe(201);
    onlineNodes.add(first.json.node.id);

    const listed = await run("list");
    expect(listed.status, listed.stderr).toBe(0);
    const [shares, acceptances] = listed.stdout.split("\n\n");
    expect(shares).toMatch(/^ID +NODE +OFFERS +AUDIENCE +USES +EXPIRES +STATE +NOTE\n/);
    expect(shares).toMatch(
      new RegExp(
        `\\n${id} +devbox +ssh bob +anyone +2/2 +2026-01-02 00:00:00Z +used-up +demo(\\n|$)`,
      ),
    );
    expect(acceptances).toMatch(/^SHARE +ACCEPTANCE +WHO +ACCEPTED +BROWSER +NODE +NOW\n/);
    const rows = acceptances!.split("\n").filter((l) => l.startsWith(id));
    expect(rows).toHaveLength(2);
    const row = (aid: number) => rows.find((r) => r.split(/ +/)[1] === String(aid)) ?? "";
    expect(row(first.json.acceptanceId)).toMatch(
      new RegExp(`Chrome 131 on Linux +${first.json.node.name} +online$`),
    );
    expect(row(second.json.acceptanceId)).toMatch(/Firefox 128 on macOS +\S+ +offline$/);

    const json = JSON.parse((await run("list", "--json")).stdout);
    const share = json.shares.find((s: { id: string }) => s.id === id);
    expect(share.acceptances.map((a: { online: boolean | null }) => a.online).sort()).toEqual([
      false,
      true,
    ]);

    const one = await run("revoke", id, "--acceptance", String(first.json.acceptanceId));
    expect(one.status, one.stderr).toBe(0);
    expect(one.stdout).toBe(
      `acceptance ${first.json.acceptanceId} of share ${id} revoked: that recipient's access ended\n`,
    );
    expect(await h.store.acceptanceById(first.json.acceptanceId)).toMatchObject({
      endReason: "revoked",
    });
    const after = await run("list");
    expect(after.stdout).toMatch(/ended 2026-01-01 00:00:00Z \(revoked\)/);

    const all = await run("revoke", id, "--json");
    expect(all.status, all.stderr).toBe(0);
    expect(JSON.parse(all.stdout)).toEqual({ revoked: id });
    expect((await h.store.shareById(id))?.revokedAt).not.toBeNull();
    expect((await run("list")).stdout).toMatch(new RegExp(`${id} .* revoked +demo\\n`));
  });

  it("names browsers from their User-Agent", () => {
    expect(browserOf("")).toBe("-");
    expect(
      browserOf(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70",
      ),
    ).toBe("Edge 131 on Windows");
    expect(
      browserOf(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
      ),
    ).toBe("Safari 17 on iOS");
    expect(browserOf("curl/8.5.0")).toBe("curl/8.5.0");
  });

  it("20,000 seeded option sets: share fields or a UsageError, never anything else", () => {
    const rand = seededInts(0x5a7e);
    const pick = <T>(list: readonly T[]): T => list[rand(list.length)]!;
    const words = ["ada", "", "a b", "root", "x".repeat(70), "ü", "a:b", "-", "bob"];
    const ports = ["22", "0", "65535", "65536", "8080", "x", "", "007", "-1", "1e3", " 80"];
    const emails = ["a@b.c", "nobody", "", "A@B.C", "a@@b", "x@y"];
    const durations = ["1m", "24h", "0h", "30d", "2w", "", "999999d", "1000000d", "5"];
    const uses = ["1", "0", "unlimited", "-1", "12", "", "1.5", "999999999", "1000000000"];
    let made = 0;
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      const values: ShareValues = {};
      if (rand(2)) values["ssh-user"] = Array.from({ length: rand(3) }, () => pick(words));
      if (rand(2)) values.port = Array.from({ length: rand(4) }, () => pick(ports));
      if (rand(4) === 0) values.anyone = true;
      if (rand(4) === 0) values["signed-in"] = true;
      if (rand(3) === 0) values.email = Array.from({ length: rand(3) }, () => pick(emails));
      if (rand(3) === 0) values.expires = pick(durations);
      if (rand(3) === 0) values.uses = pick(uses);
      if (rand(3) === 0) values.note = pick(words);
      try {
        const fields = shareCreateFields(values);
        made++;
        expect(fields.sshUsers.length + fields.ports.length).toBeGreaterThan(0);
        expect(fields.ports).toEqual([...new Set(fields.ports)].sort((a, b) => a - b));
        for (const p of fields.ports) expect(p >= 1 && p <= 65535).toBe(true);
        expect(fields.audience === "emails").toBe((fields.emails ?? []).length > 0);
        if (fields.maxUses !== undefined && fields.maxUses !== null) {
          expect(fields.maxUses).toBeGreaterThanOrEqual(1);
        }
      } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        refused++;
      }
    }
    expect(made).toBeGreaterThan(1000);
    expect(refused).toBeGreaterThan(1000);
  });
});
