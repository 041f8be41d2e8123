import { defineConfig } from "vitest/config";

// Two groups, one after the other. Most test files wait on real processes (sshd, wireguard-go,
// the relay, `corridor` commands) far more than they compute, so two run at once on CI's two
// cores; each names its own namespaces, ports and temp dirs, so they do not collide. The
// browser suites (test/e2e) then run one at a time: each drives Chromium, which alone can
// fill both cores, and several assert what a person sees within a deadline.
const shared = {
  testTimeout: 60_000,
  hookTimeout: 60_000,
  pool: "forks",
} as const;

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: "node",
          include: ["test/**/*.test.ts"],
          exclude: ["test/e2e/**"],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: "browser",
          include: ["test/e2e/**/*.test.ts"],
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
