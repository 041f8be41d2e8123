// `corridor admin share` with every part a real binary: `corridor serve` (its owner link signs
// the owner in once, `admin apikey create --data` makes the API key), a `corridor agent` joined
// with an admin-made auth key (so the node has the agent's SSH server), then `share create` by
// the node's name prints the link alone, a recipient accepts it through the API, `share list`
// shows the acceptance (its browser, online or not), and `share revoke` ends it.

import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseShareLink } from "../../worker/control/share-link.ts";
import { CorridorProcess } from "../agent/agent-harness.ts";
import { corridor, followOwnerLink, Server } from "./control-helpers.ts";

let dir: string;
let data: string;
let server: Server;
let agent: CorridorProcess | undefined;
let base = "";
let env: Record<string, string> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "corridor-admin-share-serve-"));
  data = join(dir, "data");
  const web = join(dir, "web");
  mkdirSync(web);
  writeFileSync(join(web, "index.html"), "<!doctype html><title>t</title>\n");
  server = new Server(["serve", "--port", "0", "--web", web, "--data", data]);
  base = (await server.waitFor(/Corridor is running at (http:\/\/127\.0\.0\.1:\d+\/)\n/))[1]!;
  const link = (await server.waitFor(/Sign in as owner: (\S+)\n/))[1]!;
  await followOwnerLink(link);
  const key = await corridor(["admin", "apikey", "create", "--data", data]);
  expect(key.status, key.stderr).toBe(0);
  env = { CORRIDOR_API_KEY: key.stdout.trim() };
  const policy = join(dir, "policy.jsonc");
  writeFileSync(policy, `{ "tagOwners": { "tag:server": ["autogroup:admin"] } }\n`);
  const set = await corridor(["admin", "policy", "set", policy, "--server", base], env);
  expect(set.status, set.stderr).toBe(0);
  const authKey = await corridor(
    ["admin", "authkey", "create", "--tag", "tag:server", "--server", base],
    env,
  );
  expect(authKey.status, authKey.stderr).toBe(0);
  agent = new CorridorProcess(
    [
      "agent",
      "--server",
      base,
      "--state",
      join(dir, "agent"),
      "--hostname",
      "devbox",
      "--no-direct",
    ],
    { env: { CORRIDOR_AUTH_KEY: authKey.stdout.trim() } },
  );
  await agent.waitFor(/joined \S+ as devbox /);
}, 120_000);

afterAll(async () => {
  await agent?.stop("SIGKILL");
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const admin = (...args: string[]) => corridor(["admin", "share", ...args, "--server", base], env);

describe("corridor admin share against corridor serve", () => {
  it("creates a link for the agent's node, lists its acceptance, revokes it", async () => {
    const made = await admin("create", "devbox", "--ssh-user", "root", "--port", "8080");
    expect(made.status, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/^http:\/\/\S+\/s\/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}\n$/);
    const parsed = parseShareLink(made.stdout.trim());
    if (!parsed.ok) throw new Error(parsed.message);
    const { id, secret } = parsed.link;

    const accepted = await fetch(new URL(`/api/v1/shares/${id}/accept`, base), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        origin: new URL(base).origin,
        "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
      },
      body: JSON.stringify({ secret, nodeKey: randomBytes(32).toString("base64"), hostname: "pc" }),
    });
    expect(accepted.status, await accepted.clone().text()).toBe(201);
    const { acceptanceId } = (await accepted.json()) as { acceptanceId: number };

    const listed = await admin("list");
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(
      new RegExp(`\\n${id} +devbox +ssh root; tcp 8080 +anyone +1/1 +\\S+ \\S+ +used-up +-\\n`),
    );
    // The recipient's node never joined (no engine here): offline.
    expect(listed.stdout).toMatch(
      new RegExp(
        `\\n${id} +${acceptanceId} +Guest \\d+ +\\S+ \\S+ +Firefox 128 on Linux +\\S+ +offline\\n`,
      ),
    );

    const revoked = await admin("revoke", id);
    expect(revoked.status, revoked.stderr).toBe(0);
    expect(revoked.stdout).toBe(`share ${id} revoked: its recipients' access ended\n`);
    const after = await admin("list", "--json");
    const share = (
      JSON.parse(after.stdout) as {
        shares: { id: string; state: string; acceptances: { endReason: string | null }[] }[];
      }
    ).shares.find((s) => s.id === id);
    expect(share?.state).toBe("revoked");
    expect(share?.acceptances.map((a) => a.endReason)).toEqual(["revoked"]);
  }, 120_000);
});
