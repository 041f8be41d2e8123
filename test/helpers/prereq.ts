// Prerequisites of tests that need something outside node_modules: a Debian binary
// (/usr/bin/chromium, wireguard-go, sshd), root, Linux. DESIGN.md §5: when one is missing the
// test is skipped with the reason printed, except in CI (CI=true) where it fails, naming it.
//
//   const chromium = prereq(executable("/usr/bin/chromium"));
//   describeWithPrereq(chromium, "crypto in a real browser", () => { ...tests and hooks... });
//
// or, by hand, with vitest's own modifiers:
//
//   describe.skipIf(chromium.skip)("...", () => {
//     beforeAll(() => chromium.assert());   // under CI a missing prerequisite throws here
//   });
//
// Install what is missing with scripts/install-deps.sh.

import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { describe, it } from "vitest";

/** One thing a test needs, and whether this machine has it. */
export interface Check {
  /** What is needed, as a person would name it: "/usr/bin/chromium", "root", "wg on PATH". */
  what: string;
  ok: boolean;
}

export interface Prereq {
  /** Every check passed: run the tests. */
  readonly ok: boolean;
  /** What is missing (the `what` of each failed check). */
  readonly missing: readonly string[];
  /** "missing prerequisite: X, Y (install with scripts/install-deps.sh)", or "" when ok. */
  readonly reason: string;
  /** Missing and not in CI: skip the tests. */
  readonly skip: boolean;
  /** Missing and in CI: the tests must fail. */
  readonly fail: boolean;
  /** Throws an Error carrying `reason` when something is missing (call it in a hook or test). */
  assert(): void;
}

/** CI mode, as DESIGN.md §5 defines it: the environment variable CI is "true". */
export function inCI(): boolean {
  return process.env.CI === "true";
}

/** Evaluates a check lazily; a check that throws counts as not ok. */
export function check(what: string, ok: boolean | (() => boolean)): Check {
  if (typeof ok === "boolean") return { what, ok };
  try {
    return { what, ok: ok() };
  } catch {
    return { what, ok: false };
  }
}

/** An executable file at this absolute path. */
export function executable(path: string): Check {
  return check(path, () => {
    accessSync(path, constants.X_OK);
    return true;
  });
}

/** A file or directory at this path (e.g. /dev/net/tun). */
export function exists(path: string): Check {
  return check(path, () => existsSync(path));
}

/** An executable named `command` in a directory of PATH (plus the sbin directories). */
export function onPath(command: string): Check {
  const dirs = (process.env.PATH ?? "").split(delimiter).filter((d) => d !== "");
  for (const extra of ["/usr/local/sbin", "/usr/sbin", "/sbin"]) {
    if (!dirs.includes(extra)) dirs.push(extra);
  }
  return check(`${command} (on PATH)`, () =>
    dirs.some((dir) => {
      try {
        accessSync(join(dir, command), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    }),
  );
}

/** Running as root (network namespaces, TUN devices). */
export function root(): Check {
  return check("root", () => process.getuid?.() === 0);
}

/** Running on Linux. */
export function linux(): Check {
  return check("Linux", process.platform === "linux");
}

/**
 * Combines checks into one verdict. When the tests will be skipped, prints the reason once
 * (console.warn) so a skip is never silent.
 */
export function prereq(...checks: Check[]): Prereq {
  const missing = checks.filter((c) => !c.ok).map((c) => c.what);
  const ok = missing.length === 0;
  const ci = inCI();
  const reason = ok
    ? ""
    : `missing prerequisite: ${missing.join(", ")} (install with scripts/install-deps.sh)`;
  if (!ok && !ci) console.warn(`[skip] ${reason}`);
  return {
    ok,
    missing,
    reason,
    skip: !ok && !ci,
    fail: !ok && ci,
    assert() {
      if (!ok) throw new Error(reason);
    },
  };
}

/**
 * `describe` that honours a prerequisite: all there → an ordinary describe; missing outside CI
 * → describe.skip (every test reported as skipped); missing in CI → the body is not run (its
 * hooks would only fail obscurely) and one test named after the prerequisite fails with the
 * reason.
 */
export function describeWithPrereq(need: Prereq, name: string, body: () => void): void {
  if (need.ok) {
    describe(name, body);
  } else if (need.skip) {
    describe.skip(name, body);
  } else {
    describe(name, () => {
      it(`prerequisites: ${need.missing.join(", ")}`, () => need.assert());
    });
  }
}
