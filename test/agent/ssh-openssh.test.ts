// The identity SSH server against the real OpenSSH client (ssh, sftp): logins decided by the
// caller's identity and the map's ssh rules, the reason of a refusal shown to the person, and
// sessions (exec, pty shell, env, sftp) run as the mapped local account.

import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findSftpServer, SFTP_SERVERS } from "../../server/agent/ssh/session.ts";
import { waitUntil } from "../helpers/wait.ts";
import { CHECK_URL, OTHER_UID, OTHER_USER, peer, SshHarness, sshPrereq } from "./ssh-harness.ts";

const needs = sshPrereq();

describe.skipIf(needs.skip)("identity SSH with OpenSSH", () => {
  let h: SshHarness;
  let now = Date.now();

  beforeAll(async () => {
    needs.assert();
    h = await SshHarness.start({ now: () => now });
  });
  afterAll(async () => {
    await h?.stop();
  });

  const allowRoot = () => {
    h.identity.peers = [peer()];
    h.identity.rules = [
      { src: { users: [1] }, users: ["root", "autogroup:nonroot"], action: "accept" },
    ];
  };

  it("runs a command as root by identity, with its exit status; auth 'none' is enough", async () => {
    allowRoot();
    const ok = await h.ssh("root", ["id -un; exit 7"]);
    expect(ok.stdout).toBe("root\n");
    expect(ok.code).toBe(7);
    const login = h.events("ssh_login").at(-1);
    expect(login).toMatchObject({
      as: "root",
      method: "none",
      outcome: "accept",
      node: "laptop",
      user: "alice@example.com",
    });
  });

  it("passes LANG and LC_* from the client and never the agent's own environment", async () => {
    allowRoot();
    const r = await h.ssh(
      "root",
      [
        "-o",
        "SendEnv=LANG LC_TIME SECRET_THING",
        'echo "$LANG|$LC_TIME|$SECRET_THING|$HOME|$USER"',
      ],
      "",
      { LANG: "C.UTF-8", LC_TIME: "C", SECRET_THING: "leak" },
    );
    expect(r.stdout).toBe("C.UTF-8|C||/root|root\n");
    expect(r.code).toBe(0);
  });

  it("reports a command killed by a signal (OpenSSH exits 255 and names the signal)", async () => {
    allowRoot();
    const r = await h.ssh("root", ["-v", "kill -TERM $$"]);
    expect(r.code).toBe(255);
    // ssh -v says it received an exit-signal (not which: the CLI client test checks "TERM").
    expect(r.stderr).toMatch(/rtype exit-signal/);
  });

  it("gives a pty shell with TERM from the client", async () => {
    allowRoot();
    const r = await h.ssh(
      "root",
      ["-tt", ""],
      'echo "term=$TERM tty=$(tty) mark-$((6*7))"; exit 3\n',
      {
        TERM: "vt220",
      },
    );
    expect(r.stdout).toMatch(/term=vt220 tty=\/dev\/pts\/\d+ mark-42/);
    expect(r.code).toBe(3);
  });

  it("serves sftp through the system's sftp-server (put and get)", async () => {
    allowRoot();
    const local = join(h.dir, "upload.bin");
    const back = join(h.dir, "download.bin");
    const remote = join(h.dir, "remote.bin");
    const content = Buffer.alloc(300_000, 0).map((_, i) => (i * 7919) & 0xff);
    writeFileSync(local, content);
    const r = await h.sftp("root", `put ${local} ${remote}\nget ${remote} ${back}\n`);
    expect(r.stderr).not.toMatch(/denied|fail/i);
    expect(r.code).toBe(0);
    expect(readFileSync(remote).equals(content)).toBe(true);
    expect(readFileSync(back).equals(content)).toBe(true);
  });

  it("refuses a user the rules do not give the caller, saying why", async () => {
    h.identity.peers = [peer()];
    h.identity.rules = [{ src: { users: [1] }, users: ["ubuntu"], action: "accept" }];
    const r = await h.ssh("root", ["id"]);
    expect(r.code).toBe(255);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(
      "alice@example.com on laptop (127.0.0.1) may not log in as root: the policy's ssh rules allow ubuntu.",
    );
    expect(r.stderr).toContain("Permission denied");
    expect(h.events("ssh_login_refused").at(-1)).toMatchObject({
      as: "root",
      outcome: "not-allowed",
    });
  });

  it("refuses a source address that is no peer of the map", async () => {
    h.identity.peers = [peer({ addresses: ["100.64.0.9"] })];
    h.identity.rules = [{ src: { any: true }, users: ["root"], action: "accept" }];
    const r = await h.ssh("root", ["id"]);
    expect(r.code).toBe(255);
    expect(r.stderr).toContain("127.0.0.1 is not a node of this mesh's map");
  });

  it("check rule: an old sign-in is refused naming the URL, a recent one is let in", async () => {
    now = Date.now();
    const rule = {
      src: { users: [1] },
      users: ["root"],
      action: "check" as const,
      checkPeriodMs: 3_600_000,
    };
    h.identity.rules = [rule];
    h.identity.peers = [
      peer({
        user: { id: 1, name: "Alice", email: "alice@example.com", signedInAt: now - 7_200_000 },
      }),
    ];
    const old = await h.ssh("root", ["id -un"]);
    expect(old.code).toBe(255);
    expect(old.stderr).toContain(`sign in again at ${CHECK_URL}, then retry`);
    h.identity.peers = [
      peer({
        user: { id: 1, name: "Alice", email: "alice@example.com", signedInAt: now - 60_000 },
      }),
    ];
    const fresh = await h.ssh("root", ["id -un"]);
    expect(fresh.stdout).toBe("root\n");
    expect(h.events("ssh_login").at(-1)).toMatchObject({ as: "root", outcome: "check" });
  });

  it("runs the session as the mapped local user (uid, gid, HOME, cwd, shell)", async () => {
    allowRoot();
    const r = await h.ssh(OTHER_USER, ['echo "$(id -u):$(id -g)|$USER|$HOME|$(pwd)|$SHELL"']);
    expect(r.stdout).toBe(
      `${OTHER_UID}:${OTHER_UID}|${OTHER_USER}|${h.otherHome}|${h.otherHome}|/bin/sh\n`,
    );
    expect(r.code).toBe(0);
  });

  it("gives the mapped local user a pty shell and sftp too", async () => {
    allowRoot();
    const shell = await h.ssh(OTHER_USER, ["-tt", ""], 'echo "who=$(id -u) tty=$(tty)"; exit\n');
    expect(shell.stdout).toMatch(new RegExp(`who=${OTHER_UID} tty=/dev/pts/\\d+`));
    const local = join(h.dir, "mine.txt");
    writeFileSync(local, "from the other user\n");
    const put = await h.sftp(OTHER_USER, `put ${local} ${join(h.otherHome, "mine.txt")}\n`);
    expect(put.code).toBe(0);
    // Written by the session's user, not by the agent's root.
    const owner = await h.ssh("root", [`stat -c %u ${join(h.otherHome, "mine.txt")}`]);
    expect(owner.stdout).toBe(`${OTHER_UID}\n`);
  });

  it("gives the pty to the session's user, so a program can open its tty by path", async () => {
    allowRoot();
    const r = await h.ssh(OTHER_USER, [
      "-tt",
      'test -w "$(tty)" && echo writable; stat -c "%u %a" "$(tty)"',
    ]);
    expect(r.stdout).toMatch(new RegExp(`^writable\r\n${OTHER_UID} 6[02]0\r\n$`));
    expect(r.code).toBe(0);
  });

  it("autogroup:nonroot does not include root, nor users that do not exist", async () => {
    h.identity.peers = [peer()];
    h.identity.rules = [{ src: { any: true }, users: ["autogroup:nonroot"], action: "accept" }];
    const asRoot = await h.ssh("root", ["id"]);
    expect(asRoot.stderr).toContain(
      "may not log in as root: the policy's ssh rules allow autogroup:nonroot",
    );
    const missing = await h.ssh("nosuchuser", ["id"]);
    expect(missing.stderr).toContain(
      "may not log in as nosuchuser: there is no such user on this host",
    );
  });

  it("refuses port forwarding cleanly", async () => {
    allowRoot();
    const r = await h.ssh("root", ["-W", "127.0.0.1:9", ""]);
    expect(r.stderr).toMatch(/administratively prohibited/);
    expect(r.code).toBe(255);
  });
});

describe.skipIf(needs.skip)("identity SSH when the agent is not root", () => {
  let h: SshHarness;
  beforeAll(async () => {
    needs.assert();
    h = await SshHarness.start({ runAs: { user: OTHER_USER } });
    h.identity.rules = [{ src: { any: true }, users: ["root", OTHER_USER], action: "accept" }];
  });
  afterAll(async () => {
    await h?.stop();
  });

  it("refuses any user but its own, saying the agent is not root", async () => {
    const r = await h.ssh("root", ["id"]);
    expect(r.code).toBe(255);
    expect(r.stderr).toContain(
      "the agent here does not run as root, so it can only open sessions as corridor-other",
    );
  });
});

describe.skipIf(needs.skip)("identity SSH bounds", () => {
  let limited: SshHarness;
  let impatient: SshHarness;
  beforeAll(async () => {
    needs.assert();
    limited = await SshHarness.start({ maxConnectionsPerCaller: 1 });
    impatient = await SshHarness.start({ authTimeoutMs: 300 });
    for (const h of [limited, impatient]) {
      h.identity.rules = [{ src: { any: true }, users: ["root"], action: "accept" }];
    }
  });
  afterAll(async () => {
    await limited?.stop();
    await impatient?.stop();
  });

  it("limits connections per caller and gives the slot back when one ends", async () => {
    const idle = connect(limited.port, "127.0.0.1");
    idle.on("error", () => undefined);
    await waitUntil(() => limited.server.connections === 1, "the idle connection to be served");
    // While the idle connection holds the caller's only slot, a second one is turned away.
    const second = await limited.ssh("root", ["id"]);
    expect(second.code).toBe(255);
    expect(limited.events("ssh_too_many_connections")).toHaveLength(1);
    idle.destroy();
    await waitUntil(() => limited.server.connections === 0, "the caller's slot to be released");
    const third = await limited.ssh("root", ["id -un"]);
    expect(third.stdout).toBe("root\n");
  });

  it("closes a connection that does not authenticate in time (even one that sends nothing)", async () => {
    const idle = connect(impatient.port, "127.0.0.1");
    let closed = false;
    idle.on("close", () => {
      closed = true;
    });
    idle.on("error", () => undefined);
    // Read (and drop) what comes, so the server's FIN is seen.
    idle.resume();
    await waitUntil(() => closed, "the server to close the idle connection");
    expect(impatient.events("ssh_auth_timeout")).toHaveLength(1);
    await waitUntil(() => impatient.server.connections === 0, "the caller's slot to be released");
  });
});

describe.skipIf(needs.skip)("identity SSH on a host without sftp-server", () => {
  let h: SshHarness;
  beforeAll(async () => {
    needs.assert();
    h = await SshHarness.start({ sftpServer: null });
    h.identity.peers = [peer()];
    h.identity.rules = [{ src: { users: [1] }, users: ["root"], action: "accept" }];
  });
  afterAll(async () => {
    await h?.stop();
  });

  it("refuses SFTP saying no sftp-server was found, and logs it; commands still run", async () => {
    const r = await h.sftp("root", "pwd\n");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("SFTP is not available on this host: no sftp-server found");
    expect(r.stderr).toContain("/usr/libexec/openssh/sftp-server");
    expect(h.events("ssh_request_refused").map((e) => e.request)).toContain("subsystem sftp");
    const ok = await h.ssh("root", ["echo fine"]);
    expect(ok.stdout).toBe("fine\n");
  });

  it("finds sftp-server in the usual places, the first executable one", () => {
    const dir = join(h.dir, "sftp");
    mkdirSync(dir);
    const plain = join(dir, "plain");
    const exe = join(dir, "exe");
    writeFileSync(plain, "");
    writeFileSync(exe, "#!/bin/sh\n");
    chmodSync(exe, 0o755);
    expect(findSftpServer([join(dir, "missing"), plain, exe])).toBe(exe);
    expect(findSftpServer([join(dir, "missing"), plain])).toBeUndefined();
    expect(findSftpServer([dir])).toBeUndefined();
    expect(SFTP_SERVERS).toContain("/usr/lib/openssh/sftp-server");
  });
});
