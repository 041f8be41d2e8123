// Who may log in as whom (server/agent/ssh/access.ts) and the passwd parser and lookups
// (users.ts), with a seeded fuzz of the parser and of the decision.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  decideLogin,
  type LoginRequest,
  loginsFor,
  selects,
} from "../../server/agent/ssh/access.ts";
import { acceptedEnv, asAccount, sessionEnv } from "../../server/agent/ssh/session.ts";
import {
  findInPasswd,
  getentDirectory,
  isValidUserName,
  MAX_PASSWD_LINE,
  parsePasswdLine,
  passwdFileDirectory,
} from "../../server/agent/ssh/users.ts";
import type { SshRule } from "../../worker/control/types.ts";
import { executable, prereq } from "../helpers/prereq.ts";
import { seededInts } from "../helpers/seeded.ts";
import { peer } from "./ssh-harness.ts";

const NOW = 1_800_000_000_000;
const ubuntu = { name: "ubuntu", uid: 1000, gid: 1000, home: "/home/ubuntu", shell: "/bin/bash" };
const root = { name: "root", uid: 0, gid: 0, home: "/root", shell: "/bin/bash" };

function request(overrides: Partial<LoginRequest>): LoginRequest {
  return {
    caller: peer(),
    address: "100.64.0.3",
    rules: [],
    requested: "ubuntu",
    account: ubuntu,
    now: NOW,
    runAs: "any",
    checkUrl: "https://corridor.example.com/login/check",
    ...overrides,
  };
}

describe("selects", () => {
  const alice = peer({ tags: [] });
  const server = peer({ user: null, tags: ["tag:server"] });
  it("matches any, users by id, tags, and the source address by CIDR", () => {
    expect(selects({ any: true }, alice, "100.64.0.3")).toBe(true);
    expect(selects({ users: [1] }, alice, "100.64.0.3")).toBe(true);
    expect(selects({ users: [2] }, alice, "100.64.0.3")).toBe(false);
    expect(selects({ tags: ["tag:server"] }, server, "100.64.0.3")).toBe(true);
    expect(selects({ tags: ["tag:server"] }, alice, "100.64.0.3")).toBe(false);
    expect(selects({ users: [1] }, server, "100.64.0.3")).toBe(false);
    expect(selects({ cidrs: ["100.64.0.0/24"] }, alice, "100.64.0.3")).toBe(true);
    expect(selects({ cidrs: ["100.64.1.0/24"] }, alice, "100.64.0.3")).toBe(false);
    expect(selects({ cidrs: ["fd7a:115c:a1e0::/48"] }, alice, "fd7a:115c:a1e0::3")).toBe(true);
    expect(selects({ cidrs: ["fd7a:115c:a1e0::/48"] }, alice, "100.64.0.3")).toBe(false);
    // A CIDR that does not parse selects nothing; so does an empty selector.
    expect(selects({ cidrs: ["bogus/99"] }, alice, "100.64.0.3")).toBe(false);
    expect(selects({}, alice, "100.64.0.3")).toBe(false);
  });
});

describe("decideLogin", () => {
  const accept = (users: string[]): SshRule => ({ src: { users: [1] }, users, action: "accept" });

  it("allows a user an accept rule names, and says whom a refusal allows", () => {
    expect(decideLogin(request({ rules: [accept(["ubuntu"])] }))).toMatchObject({
      allowed: true,
      outcome: "accept",
    });
    const refused = decideLogin(
      request({ rules: [accept(["ubuntu", "deploy"])], requested: "root", account: root }),
    );
    expect(refused).toEqual({
      allowed: false,
      outcome: "not-allowed",
      message:
        "alice@example.com on laptop (100.64.0.3) may not log in as root: the policy's ssh rules allow ubuntu, deploy.",
    });
    const none = decideLogin(request({ rules: [{ ...accept(["ubuntu"]), src: { users: [9] } }] }));
    expect(none.message).toContain("the policy's ssh rules allow no user.");
  });

  it("autogroup:nonroot is any existing account but root (by uid too)", () => {
    const rules = [accept(["autogroup:nonroot"])];
    expect(decideLogin(request({ rules })).allowed).toBe(true);
    expect(decideLogin(request({ rules, requested: "root", account: root })).outcome).toBe(
      "not-allowed",
    );
    const toor = { ...root, name: "toor" };
    expect(decideLogin(request({ rules, requested: "toor", account: toor })).outcome).toBe(
      "not-allowed",
    );
    const missing = decideLogin(request({ rules, requested: "ghost", account: undefined }));
    expect(missing.outcome).toBe("no-such-user");
    expect(missing.message).toContain("there is no such user on this host");
  });

  it("a named user that does not exist is refused as such", () => {
    const d = decideLogin(
      request({ rules: [accept(["ghost"])], requested: "ghost", account: undefined }),
    );
    expect(d).toMatchObject({ allowed: false, outcome: "no-such-user" });
  });

  it("check rules: allowed within the period, refused naming the URL after it or without a sign-in", () => {
    const rule: SshRule = {
      src: { any: true },
      users: ["ubuntu"],
      action: "check",
      checkPeriodMs: 43_200_000,
    };
    const signed = (at: number | null) =>
      peer({ user: { id: 1, name: "Alice", email: "alice@example.com", signedInAt: at } });
    expect(decideLogin(request({ rules: [rule], caller: signed(NOW - 43_200_000) }))).toMatchObject(
      {
        allowed: true,
        outcome: "check",
      },
    );
    const stale = decideLogin(request({ rules: [rule], caller: signed(NOW - 43_200_001) }));
    expect(stale).toMatchObject({ allowed: false, outcome: "check-stale" });
    expect(stale.message).toBe(
      "alice@example.com on laptop (100.64.0.3) may log in as ubuntu only after a sign-in within the last 720 min " +
        "(check rule): sign in again at https://corridor.example.com/login/check, then retry.",
    );
    expect(decideLogin(request({ rules: [rule], caller: signed(null) })).outcome).toBe(
      "check-stale",
    );
    // A tagged node has no user to sign in: a check rule never lets it in; an accept rule does.
    const tagged = peer({ user: null, tags: ["tag:ci"] });
    expect(decideLogin(request({ rules: [rule], caller: tagged })).outcome).toBe("check-stale");
    expect(
      decideLogin(
        request({ rules: [rule, accept(["x"]), { ...rule, action: "accept" }], caller: tagged }),
      ).allowed,
    ).toBe(true);
  });

  it("a non-root agent serves only its own user", () => {
    const rules = [accept(["ubuntu", "root"])];
    expect(decideLogin(request({ rules, runAs: { user: "ubuntu" } })).allowed).toBe(true);
    const d = decideLogin(
      request({ rules, runAs: { user: "ubuntu" }, requested: "root", account: root }),
    );
    expect(d.outcome).toBe("not-root");
    expect(d.message).toContain("does not run as root, so it can only open sessions as ubuntu");
  });

  it("an unknown source is refused", () => {
    const d = decideLogin(
      request({
        caller: undefined,
        rules: [{ src: { any: true }, users: ["ubuntu"], action: "accept" }],
      }),
    );
    expect(d).toMatchObject({ allowed: false, outcome: "unknown-caller" });
    expect(d.message).toBe("100.64.0.3 is not a node of this mesh's map: no SSH login from it.");
  });

  it("loginsFor lists accept and check users of the rules that select the caller", () => {
    const rules: SshRule[] = [
      accept(["ubuntu"]),
      { src: { tags: ["tag:x"] }, users: ["nope"], action: "accept" },
      { src: { any: true }, users: ["root", "ubuntu"], action: "check", checkPeriodMs: 1 },
    ];
    expect(loginsFor(peer(), "100.64.0.3", rules)).toEqual({
      accept: ["ubuntu"],
      check: ["root", "ubuntu"],
    });
  });

  it("fuzz: 3,000 random rule sets and requests never throw, and never allow what no rule grants", () => {
    const rand = seededInts(0x5eed_14c);
    const names = ["root", "ubuntu", "deploy", "autogroup:nonroot", "", "ghost"];
    const pick = <T>(list: readonly T[]): T => list[rand(list.length)]!;
    for (let i = 0; i < 3000; i++) {
      const rules: SshRule[] = Array.from({ length: rand(4) }, () => ({
        src: pick([
          { any: true },
          { users: [rand(3)] },
          { tags: ["tag:a"] },
          { cidrs: [pick(["100.64.0.0/10", "x/1", "::/0"])] },
          {},
        ]),
        users: Array.from({ length: rand(3) }, () => pick(names)),
        action: pick(["accept", "check"] as const),
        checkPeriodMs: pick([undefined, 0, 1000, -5, Number.NaN]),
      }));
      const requested = pick(names);
      const account = pick([undefined, ubuntu, root, { ...ubuntu, name: requested }]);
      const signedInAt = pick([null, NOW, NOW - 999, Number.NaN]);
      const caller = pick([
        undefined,
        peer({ user: { id: rand(3), name: "a", email: "", signedInAt } }),
        peer({ user: null, tags: ["tag:a"] }),
      ]);
      const address = pick(["100.64.0.3", "fd7a::1", "garbage", ""]);
      const d = decideLogin(
        request({
          rules,
          requested,
          account,
          caller,
          address,
          runAs: pick(["any", { user: "ubuntu" }] as const),
        }),
      );
      if (d.allowed) {
        expect(caller).toBeDefined();
        expect(account).toBeDefined();
        const granted = rules.some(
          (r) =>
            selects(r.src, caller!, address) &&
            (r.users.includes(requested) ||
              (r.users.includes("autogroup:nonroot") &&
                account!.uid !== 0 &&
                requested !== "root")),
        );
        expect(granted).toBe(true);
      } else {
        expect(d.message.length).toBeGreaterThan(0);
      }
    }
  });
});

describe("passwd lines", () => {
  it("parses the seven fields, with an empty shell as /bin/sh", () => {
    expect(parsePasswdLine("ubuntu:x:1000:1000:Ubuntu,,,:/home/ubuntu:/bin/bash")).toEqual(ubuntu);
    expect(parsePasswdLine("svc:x:10:20::/srv:")).toEqual({
      name: "svc",
      uid: 10,
      gid: 20,
      home: "/srv",
      shell: "/bin/sh",
    });
  });

  it("refuses broken lines naming what is wrong", () => {
    expect(() => parsePasswdLine("a:x:1:1:/home/a:/bin/sh")).toThrow("6 fields, expected 7");
    expect(() => parsePasswdLine("a:x:-1:1::/home/a:/bin/sh")).toThrow('uid "-1" is not a number');
    expect(() => parsePasswdLine("a:x:1:99999999999::/h:/bin/sh")).toThrow("gid");
    expect(() => parsePasswdLine("a:x:4294967295:1::/h:/bin/sh")).toThrow(
      "uid 4294967295 is out of range",
    );
    expect(() => parsePasswdLine("-rf:x:1:1::/h:/bin/sh")).toThrow("not a valid user name");
    expect(() => parsePasswdLine("a:x:1:1::home:/bin/sh")).toThrow(
      "home of a is not an absolute path",
    );
    expect(() => parsePasswdLine(`a:x:1:1:${"g".repeat(MAX_PASSWD_LINE)}:/h:/bin/sh`)).toThrow(
      "longer than",
    );
  });

  it("user names: no option-like or odd names, 32 characters at most", () => {
    for (const ok of ["root", "ubuntu", "a.b-c_d", "_svc", "host$", "1000"])
      expect(isValidUserName(ok)).toBe(true);
    for (const bad of ["", "-x", ".x", "a b", "a:b", "a/b", "x".repeat(33), "a\nb", "é"]) {
      expect(isValidUserName(bad)).toBe(false);
    }
  });

  it("findInPasswd skips broken lines and finds only the exact name", () => {
    const text =
      "root:x:0:0::/root:/bin/bash\nbad:x:z:0::/:/bin/sh\nubuntu:x:1000:1000::/home/ubuntu:/bin/bash\n";
    expect(findInPasswd(text, "ubuntu")).toEqual(ubuntu);
    expect(findInPasswd(text, "bad")).toBeUndefined();
    expect(findInPasswd(text, "ubunt")).toBeUndefined();
  });

  it("fuzz: 20,000 random and mutated lines parse or throw an Error, never anything else", () => {
    const rand = seededInts(0xc0ffee);
    const alphabet = "ab:x01/-$.\0\n9é";
    const seed = "ubuntu:x:1000:1000:Ubuntu:/home/ubuntu:/bin/bash";
    for (let i = 0; i < 20_000; i++) {
      let line: string;
      if (i % 2 === 0) {
        line = Array.from({ length: rand(80) }, () => alphabet[rand(alphabet.length)]).join("");
      } else {
        const chars = [...seed];
        for (let k = rand(4) + 1; k > 0; k--)
          chars[rand(chars.length)] = alphabet[rand(alphabet.length)]!;
        line = chars.join("");
      }
      try {
        const user = parsePasswdLine(line);
        expect(isValidUserName(user.name)).toBe(true);
        expect(Number.isInteger(user.uid) && user.uid >= 0).toBe(true);
        expect(user.home.startsWith("/")).toBe(true);
      } catch (error) {
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).message).toMatch(/^passwd line: /);
      }
    }
  });
});

describe("lookups", () => {
  const dir = mkdtempSync(join(tmpdir(), "corridor-passwd-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("passwdFileDirectory reads the file at each lookup", async () => {
    const file = join(dir, "passwd");
    writeFileSync(file, "ubuntu:x:1000:1000::/home/ubuntu:/bin/bash\n");
    const users = passwdFileDirectory(file);
    expect(await users.lookup("ubuntu")).toEqual(ubuntu);
    expect(await users.lookup("-ubuntu")).toBeUndefined();
    writeFileSync(file, "");
    expect(await users.lookup("ubuntu")).toBeUndefined();
  });

  const getent = prereq(executable("/usr/bin/getent"));
  it.skipIf(getent.skip)(
    "getentDirectory: root is uid 0; unknown names and numeric ids find nothing",
    async () => {
      getent.assert();
      const users = getentDirectory();
      expect(await users.lookup("root")).toMatchObject({ name: "root", uid: 0, gid: 0 });
      expect(await users.lookup("no-such-user-corridor")).toBeUndefined();
      // getent would answer "0" with root's line (a uid lookup): not an account called "0".
      expect(await users.lookup("0")).toBeUndefined();
      expect(await users.lookup("--help")).toBeUndefined();
    },
  );
});

describe("session environment", () => {
  it("accepts LANG, LC_* and TERM only, with bounded values", () => {
    expect(acceptedEnv("LANG", "C.UTF-8")).toBe(true);
    expect(acceptedEnv("LC_ALL", "C")).toBe(true);
    expect(acceptedEnv("TERM", "xterm")).toBe(true);
    expect(acceptedEnv("LD_PRELOAD", "/tmp/x.so")).toBe(false);
    expect(acceptedEnv("PATH", "/tmp")).toBe(false);
    expect(acceptedEnv("LC_", "C")).toBe(false);
    expect(acceptedEnv("LANG", "x".repeat(2000))).toBe(false);
    expect(acceptedEnv("LANG", "a\0b")).toBe(false);
  });

  it("builds the environment from the account, not from the agent's", () => {
    const env = sessionEnv(ubuntu, new Map([["LANG", "C.UTF-8"]]));
    expect(env).toEqual({
      HOME: "/home/ubuntu",
      USER: "ubuntu",
      LOGNAME: "ubuntu",
      SHELL: "/bin/bash",
      PATH: "/usr/local/bin:/usr/bin:/bin:/usr/games",
      LANG: "C.UTF-8",
    });
  });

  it("becomes another account through setpriv with its groups", () => {
    const me = {
      name: "me",
      uid: process.getuid!(),
      gid: process.getgid!(),
      home: "/",
      shell: "/bin/sh",
    };
    expect(asAccount(me, ["/bin/sh", "-l"], "/usr/bin/setpriv")).toEqual(["/bin/sh", ["-l"]]);
    const other = { ...ubuntu, uid: me.uid + 1 };
    expect(asAccount(other, ["/bin/bash", "-c", "id"], "/usr/bin/setpriv")).toEqual([
      "/usr/bin/setpriv",
      [
        "--reuid",
        String(other.uid),
        "--regid",
        "1000",
        "--init-groups",
        "--",
        "/bin/bash",
        "-c",
        "id",
      ],
    ]);
  });
});
