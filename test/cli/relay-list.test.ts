// Several relays on the command line (issue 18): `corridor control` lists them with
// --relay-url/--relay-key/--relay-id/--relay-region/--relay-stun in order (cli/relay-list.ts);
// `corridor serve` lists its own relay first and then the others (--relay-id and --relay-region
// name its own first); `corridor relay --region` reports its region in WELCOME (the real
// binary, a real hello). Hostile values end in a UsageError naming the flag.

import { spawn } from "node:child_process";
import { describe, expect, it, onTestFinished } from "vitest";
import { parseCommandArgs, UsageError } from "../../cli/args.ts";
import { CONTROL_COMMAND, controlArgs } from "../../cli/control.ts";
import { RELAY_COMMAND, relayArgs } from "../../cli/relay.ts";
import {
  parseRegion,
  parseRelayList,
  type RelayListValues,
  relayStartLine,
  serveRelayList,
} from "../../cli/relay-list.ts";
import { SERVE_COMMAND, serveArgs } from "../../cli/serve-args.ts";
import { seededInts } from "../helpers/seeded.ts";
import { connectRaw, nodeKeys, sendHello } from "../relay/raw-client.ts";

const KEY = Buffer.alloc(32, 9).toString("base64");
const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

function values(v: Partial<RelayListValues>): RelayListValues {
  return {
    "relay-url": [],
    "relay-key": [],
    "relay-id": [],
    "relay-region": [],
    "relay-stun": [],
    ...v,
  };
}

function control(...argv: string[]) {
  const parsed = parseCommandArgs(CONTROL_COMMAND, ["--database", "/tmp/x.db", ...argv]);
  if (parsed === "help") throw new Error("help");
  return controlArgs(parsed);
}

function serve(...argv: string[]) {
  const parsed = parseCommandArgs(SERVE_COMMAND, argv);
  if (parsed === "help") throw new Error("help");
  return serveArgs(parsed);
}

const TWO = [
  "--relay-url",
  "wss://eu.example.com/relay",
  "--relay-key",
  KEY,
  "--relay-url",
  "wss://us.example.com/relay",
  "--relay-key",
  KEY,
];

describe("corridor control's relay list", () => {
  it("gives regions in order; missing ones are none", () => {
    expect(control(...TWO).relays.map((r) => [r.id, r.region])).toEqual([
      ["default", ""],
      ["relay-2", ""],
    ]);
    const relays = control(
      ...TWO,
      "--relay-id",
      "eu-1",
      "--relay-id",
      "us-1",
      "--relay-region",
      "eu-west",
      "--relay-region",
      "us-east",
    ).relays;
    expect(relays).toEqual([
      { id: "eu-1", region: "eu-west", url: "wss://eu.example.com/relay", key: KEY },
      { id: "us-1", region: "us-east", url: "wss://us.example.com/relay", key: KEY },
    ]);
    expect(control(...TWO, "--relay-region", "eu").relays.map((r) => r.region)).toEqual(["eu", ""]);
  });

  it.each<[string[], string]>([
    [["--relay-region", "eu west"], "--relay-region 'eu west': up to 64 of"],
    [["--relay-region", "x".repeat(65)], "up to 64 of A-Z a-z 0-9 _ . -"],
    [["--relay-region", "é"], "--relay-region 'é'"],
    [["--relay-region", "a", "--relay-region", "b", "--relay-region", "c"], "more --relay-region"],
    [["--relay-id", "same", "--relay-id", "same"], "two relays with the id 'same'"],
    [["--relay-id", "x y"], "--relay-id 'x y': 1-64 of"],
  ])("refuses %j", (extra, message) => {
    expect(() => control(...TWO, ...extra)).toThrow(UsageError);
    expect(() => control(...TWO, ...extra)).toThrow(message);
  });

  it("still needs a relay", () => {
    expect(() => control()).toThrow("nodes need a relay");
    expect(() => parseRelayList(values({}))).toThrow("nodes need a relay");
  });

  it("prints each relay's start command with its region", () => {
    expect(
      relayStartLine(
        { id: "eu", region: "eu-west", url: "wss://e/relay", key: KEY, stun: "e:3478" },
        "PUB",
      ),
    ).toBe(
      "relay eu at wss://e/relay (STUN e:3478): corridor relay --control-key PUB --relay-id eu --region eu-west --stun 3478\n",
    );
    expect(relayStartLine({ id: "us", region: "", url: "wss://u/relay", key: KEY }, "PUB")).toBe(
      "relay us at wss://u/relay: corridor relay --control-key PUB --relay-id us\n",
    );
  });

  it("fuzz (seeded): hostile regions and ids end in a list or a UsageError", () => {
    const next = seededInts(0x18e9);
    const pieces = ["eu", "-", ".", "_", " ", "é", "\u0000", "*", "/", "x".repeat(40), "1", ""];
    for (let i = 0; i < 2000; i++) {
      const word = () =>
        Array.from({ length: next(4) }, () => pieces[next(pieces.length)]!).join("");
      const v = values({
        "relay-url": ["ws://a/relay", "ws://b/relay"],
        "relay-key": [KEY, KEY],
        "relay-id": Array.from({ length: next(3) }, word),
        "relay-region": Array.from({ length: next(3) }, word),
      });
      try {
        for (const relay of parseRelayList(v)) {
          expect(relay.id).toMatch(/^[A-Za-z0-9_.-]{1,64}$/);
          expect(relay.region).toMatch(/^[A-Za-z0-9_.-]{0,64}$/);
        }
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
      }
    }
  });
});

describe("corridor serve's relays", () => {
  it("lists only its own relay without --relay-url (region local)", () => {
    const args = serve("--relay-id", "home");
    expect([args.relayId, args.region, args.otherRelays]).toEqual(["home", "local", []]);
    expect(serve().region).toBe("local");
  });

  it("lists further relays after its own: ids and regions name its own first", () => {
    const args = serve(
      ...TWO,
      "--relay-id",
      "home",
      "--relay-region",
      "eu-central",
      "--relay-id",
      "eu",
      "--relay-region",
      "eu-west",
      "--relay-stun",
      "eu.example.com:3478",
    );
    expect([args.relayId, args.region]).toEqual(["home", "eu-central"]);
    expect(args.otherRelays).toEqual([
      {
        id: "eu",
        region: "eu-west",
        url: "wss://eu.example.com/relay",
        key: KEY,
        stun: "eu.example.com:3478",
      },
      { id: "relay-3", region: "", url: "wss://us.example.com/relay", key: KEY },
    ]);
  });

  it.each<[string[], string]>([
    [["--relay-url", "wss://a/relay"], "1 --relay-url but 0 --relay-key"],
    [["--relay-id", "a", "--relay-id", "b"], "more --relay-id than relays"],
    [["--relay-region", "a", "--relay-region", "b"], "more --relay-region than relays"],
    [["--relay-stun", "a:1"], "more --relay-stun than --relay-url"],
    [[...TWO.slice(0, 4), "--relay-id", "x", "--relay-id", "x"], "two relays with the id 'x'"],
    [["--relay-region", "a b"], "--relay-region 'a b'"],
  ])("refuses %j", (argv, message) => {
    expect(() => serve(...argv)).toThrow(UsageError);
    expect(() => serve(...argv)).toThrow(message);
  });

  it("defaults its own id to the given one (the host name) and checks it", () => {
    expect(serveRelayList(values({}), "box").id).toBe("box");
    expect(() => serveRelayList(values({ "relay-id": ["no way"] }), "box")).toThrow(UsageError);
  });
});

describe("corridor relay --region", () => {
  it("parses like --relay-region", () => {
    const parsed = parseCommandArgs(RELAY_COMMAND, ["--open", "--region", "ap-south"]);
    if (parsed === "help") throw new Error("help");
    expect(relayArgs(parsed).region).toBe("ap-south");
    const none = parseCommandArgs(RELAY_COMMAND, ["--open"]);
    if (none === "help") throw new Error("help");
    expect(relayArgs(none).region).toBe("");
    expect(() => parseRegion("a/b", "--region")).toThrow("--region 'a/b'");
  });

  it("reports it in WELCOME (the real binary)", async () => {
    const child = spawn(
      process.execPath,
      [bin, "relay", "--open", "--listen", "127.0.0.1:0", "--relay-id", "r1", "--region", "eu-1"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    let stdout = "";
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
        const match = /listening on (ws:\/\/\S+\/relay)/.exec(stdout);
        if (match) resolve(match[1]!);
      });
      void exited.then((code) => reject(new Error(`relay exited (${code}): ${stdout}`)));
    });
    expect(stdout).toContain("corridor relay r1 (region eu-1) listening on");
    const client = await connectRaw(url);
    await sendHello(client, await nodeKeys());
    const welcome = JSON.parse((await client.next("welcome")).json) as Record<string, unknown>;
    expect(welcome).toMatchObject({ relay: "r1", region: "eu-1" });
    client.ws.terminate();
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
