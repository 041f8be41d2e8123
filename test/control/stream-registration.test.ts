// Registration (server/control/registration.ts) without sockets, where timing can be forced:
// two logins of one new key racing each other register it once (the loser finds it known).

import type { IncomingMessage } from "node:http";
import { expect, it } from "vitest";
import { issueAuthKey } from "../../server/control/auth/authkeys.ts";
import { compilePolicy } from "../../server/control/policy/compile.ts";
import { DEFAULT_POLICY } from "../../server/control/policy/default.ts";
import { Registrar } from "../../server/control/registration.ts";
import { loadOrInitSettings } from "../../server/control/store/settings.ts";
import { openSqliteStore } from "../../server/control/store/sqlite.ts";
import type { LoginMessage } from "../../worker/control/messages.ts";

it("two logins of one new key at once register it once; the later finds it known", async () => {
  const store = await openSqliteStore(":memory:");
  try {
    const settings = await loadOrInitSettings(store);
    const bob = await store.createUser({
      issuer: "corridor:local",
      subject: "bob",
      email: "bob@example.com",
      name: "Bob",
      role: "member",
      lastLoginAt: null,
    });
    const compiled = compilePolicy(DEFAULT_POLICY, [
      { id: bob.id, email: bob.email, role: bob.role },
    ]);
    if (!compiled.ok) throw new Error("the default policy compiles");
    const { key } = await store.transaction((tx) =>
      issueAuthKey(tx, {
        userId: bob.id,
        reusable: true,
        ephemeral: false,
        tags: [],
        expiresAt: Date.now() + 60_000,
      }),
    );
    const registrar = new Registrar({
      store,
      ipv6Prefix: settings.ipv6Prefix,
      policy: () => compiled.policy,
      now: () => Date.now(),
    });
    const login: LoginMessage = {
      type: "login",
      nodeKey: Buffer.alloc(32, 9).toString("base64"),
      proof: Buffer.alloc(32).toString("base64"),
      hostinfo: { hostname: "twin", os: "linux" },
      authKey: key,
    };
    const req = { headers: {} } as IncomingMessage;
    const outcomes = await Promise.all([registrar.login(login, req), registrar.login(login, req)]);
    expect(outcomes.map((o) => (o.kind === "node" ? o.via : o.kind)).sort()).toEqual([
      "known",
      "registered",
    ]);
    expect(await store.listNodes()).toHaveLength(1);
    expect((await store.listAuthKeys())[0]?.usedCount).toBe(1);
  } finally {
    await store.close();
  }
});
