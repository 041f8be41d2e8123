// The host tools of TUN mode (ip, wg, nft, wireguard-go) run in a minimal environment
// (server/agent/tun/exec.ts, toolEnv): PATH, the locale and the user's WG_* switches, never the
// agent's secrets such as CORRIDOR_AUTH_KEY. Checked with /usr/bin/env run both ways a tool is
// run: runCommand (ip, wg, nft) and HostCommands.spawn (wireguard-go).

import { afterEach, beforeEach, expect, it } from "vitest";
import { hostCommands, runCommand } from "../../server/agent/tun/exec.ts";
import { describeWithPrereq, executable, prereq } from "../helpers/prereq.ts";

const ENV = "/usr/bin/env";
const SET = {
  CORRIDOR_AUTH_KEY: "tskey-secret-for-test",
  SOME_TOKEN: "other-secret",
  WG_HIDE_KEYS: "always",
  LANG: "C.UTF-8",
};

function variables(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}

function expectMinimal(vars: Map<string, string>): void {
  expect(vars.has("CORRIDOR_AUTH_KEY")).toBe(false);
  expect(vars.has("SOME_TOKEN")).toBe(false);
  expect(vars.get("WG_HIDE_KEYS")).toBe("always");
  expect(vars.get("LANG")).toBe("C.UTF-8");
  expect(vars.get("PATH")).toBeTruthy();
}

describeWithPrereq(prereq(executable(ENV)), "TUN tools' environment", () => {
  const saved = new Map<string, string | undefined>();
  beforeEach(() => {
    for (const [name, value] of Object.entries(SET)) {
      saved.set(name, process.env[name]);
      process.env[name] = value;
    }
  });
  afterEach(() => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it("runCommand passes PATH, the locale and WG_*, not the auth key", async () => {
    const out = await runCommand([ENV]);
    expect(out.code).toBe(0);
    expectMinimal(variables(out.stdout));
  });

  it("spawn (wireguard-go's way) passes the same plus its own extras", async () => {
    const child = hostCommands().spawn([ENV], { LOG_LEVEL: "error" });
    let text = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      text += chunk;
    });
    await new Promise((resolve) => child.on("close", resolve));
    const vars = variables(text);
    expectMinimal(vars);
    expect(vars.get("LOG_LEVEL")).toBe("error");
  });
});
