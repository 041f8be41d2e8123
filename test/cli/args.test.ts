// The shared argument parser (cli/args.ts) and ssh's split at the destination (cli/ssh-args.ts):
// the spellings getopt users expect, values in command-line order, help detection, the exact
// error for each kind of bad command line, the generated usage, and a seeded fuzz: any argv
// gives either a parse or a UsageError, never another exception.

import { describe, expect, it } from "vitest";
import {
  defineCommand,
  formatUsage,
  parseCommandArgs,
  positiveSeconds,
  UsageError,
} from "../../cli/args.ts";
import { parseSshArgs, SSH_COMMAND, splitSshCommandLine } from "../../cli/ssh-args.ts";
import { seededInts } from "../helpers/seeded.ts";

const DEMO = defineCommand({
  name: "demo",
  summary: "a command for the tests",
  synopsis: ["[-c COUNT] [-v] FILE..."],
  options: [
    { name: "count", short: "c", value: "COUNT", description: "how many", default: "4" },
    { name: "verbose", short: "v", description: "say more" },
    { name: "quiet", short: "q", description: "say less" },
    { name: "tag", value: "TAG", multiple: true, description: "a tag" },
  ],
  operands: [{ name: "FILE", description: "files" }],
  notes: "Notes stay as written.",
});

function parsed(argv: string[]) {
  const result = parseCommandArgs(DEMO, argv);
  if (result === "help") throw new Error("unexpected help");
  return result;
}

function usageErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  throw new Error("no UsageError");
}

describe("parseCommandArgs", () => {
  it("reads every getopt spelling into typed values, positionals anywhere", () => {
    const spellings: string[][] = [
      ["-c", "3", "a", "-v", "b"],
      ["--count", "3", "a", "--verbose", "b"],
      ["--count=3", "a", "b", "-v"],
      ["-c3", "-v", "a", "b"],
      ["-vc", "3", "a", "b"],
      ["-vc3", "a", "b"],
    ];
    for (const argv of spellings) {
      const { values, positionals } = parsed(argv);
      expect([values.count, values.verbose, values.quiet, positionals], argv.join(" ")).toEqual([
        "3",
        true,
        false,
        ["a", "b"],
      ]);
    }
    const none = parsed([]);
    expect([none.values.count, none.values.verbose, none.values.tag]).toEqual([
      undefined,
      false,
      [],
    ]);
  });

  it("keeps order: repeats of a multiple option, and every option in `given`", () => {
    const { values, given } = parsed(["--tag", "x", "-c", "1", "--tag=y", "-c", "2", "-vq"]);
    expect(values.tag).toEqual(["x", "y"]);
    expect(values.count).toBe("2");
    expect(given).toEqual([
      { name: "tag", flag: "--tag", value: "x" },
      { name: "count", flag: "-c", value: "1" },
      { name: "tag", flag: "--tag", value: "y" },
      { name: "count", flag: "-c", value: "2" },
      { name: "verbose", flag: "-v", value: undefined },
      { name: "quiet", flag: "-q", value: undefined },
    ]);
  });

  it("takes a value as given, even empty or starting with '-'; `--` ends the options", () => {
    expect(parsed(["-c", "-1"]).values.count).toBe("-1");
    expect(parsed(["-c", ""]).values.count).toBe("");
    expect(parsed(["--count="]).values.count).toBe("");
    const after = parsed(["-v", "--", "-c", "--help", "-"]);
    expect(after.values.count).toBeUndefined();
    expect(after.positionals).toEqual(["-c", "--help", "-"]);
  });

  it("answers help for -h or --help among the options, not after --", () => {
    expect(parseCommandArgs(DEMO, ["-c", "1", "--help"])).toBe("help");
    expect(parseCommandArgs(DEMO, ["-vh"])).toBe("help");
    expect(parseCommandArgs(DEMO, ["x", "-h"])).toBe("help");
    expect(parsed(["--", "-h"]).positionals).toEqual(["-h"]);
  });

  it("names what is wrong: unknown option, missing value, value for a switch", () => {
    expect(usageErrorOf(() => parsed(["--bogus"]))).toBe("unknown option --bogus");
    expect(usageErrorOf(() => parsed(["--bogus=1"]))).toBe("unknown option --bogus");
    expect(usageErrorOf(() => parsed(["-x"]))).toBe("unknown option -x");
    expect(usageErrorOf(() => parsed(["-vx"]))).toBe("unknown option -x");
    // A long name that is some option's letter is still unknown, and the reverse.
    expect(usageErrorOf(() => parsed(["--c", "1"]))).toBe("unknown option --c");
    expect(usageErrorOf(() => parsed(["-c"]))).toBe("-c needs a value (COUNT)");
    expect(usageErrorOf(() => parsed(["a", "--count"]))).toBe("--count needs a value (COUNT)");
    expect(usageErrorOf(() => parsed(["--verbose=yes"]))).toBe("--verbose takes no value");
  });

  it("refuses a table that takes -h or --help for itself", () => {
    expect(() =>
      defineCommand({
        name: "bad",
        summary: "s",
        synopsis: [""],
        options: [{ name: "host", short: "h", value: "H", description: "d" }],
      }),
    ).toThrow("corridor bad: --help/-h is every command's own");
  });
});

describe("formatUsage", () => {
  it("is generated from the table: synopsis, summary, operands, options with defaults, notes", () => {
    expect(formatUsage(DEMO)).toBe(
      [
        "usage: corridor demo [-c COUNT] [-v] FILE...",
        "",
        "A command for the tests.",
        "",
        "  FILE                    files",
        "",
        "options:",
        "  -c, --count COUNT       how many (default: 4)",
        "  -v, --verbose           say more",
        "  -q, --quiet             say less",
        "      --tag TAG           a tag (repeatable)",
        "  -h, --help              show this help and exit",
        "",
        "Notes stay as written.",
        "",
      ].join("\n"),
    );
  });

  it("wraps long descriptions under their column, within 100 columns", () => {
    for (const line of formatUsage(SSH_COMMAND).split("\n")) {
      if (line.startsWith("usage:") || line.startsWith(" ".repeat(20))) {
        expect(line.length, line).toBeLessThanOrEqual(100);
      }
    }
  });
});

describe("positiveSeconds", () => {
  it("turns seconds into milliseconds and refuses what is not a positive number", () => {
    expect(positiveSeconds(undefined, "-W", 2000)).toBe(2000);
    expect(positiveSeconds("0.5", "-W", 2000)).toBe(500);
    for (const bad of ["0", "-1", "", " ", "x", "Infinity", "NaN"]) {
      expect(usageErrorOf(() => positiveSeconds(bad, "-W", 0))).toBe(
        `-W needs a positive number of seconds, got '${bad}'`,
      );
    }
  });
});

describe("corridor ssh: options stop at the destination", () => {
  it("cuts at the first argument that is not an option or an option's value", () => {
    expect(splitSshCommandLine(["-p", "2222", "-tT", "me@host", "ls", "-l", "-p", "1"])).toEqual({
      options: ["-p", "2222", "-tT"],
      destination: "me@host",
      command: ["ls", "-l", "-p", "1"],
    });
    expect(splitSshCommandLine(["-p2222", "-o", "User=x", "host", "--", "echo", "--"])).toEqual({
      options: ["-p2222", "-o", "User=x"],
      destination: "host",
      command: ["echo", "--"],
    });
    expect(splitSshCommandLine(["--wg-config", "wg.conf", "--relay=ws://r/relay", "h"])).toEqual({
      options: ["--wg-config", "wg.conf", "--relay=ws://r/relay"],
      destination: "h",
      command: [],
    });
    expect(splitSshCommandLine(["-l", "host", "--", "-weird", "cmd"])).toEqual({
      options: ["-l", "host"],
      destination: "-weird",
      command: ["cmd"],
    });
    expect(splitSshCommandLine(["-t", "-p"])).toEqual({
      options: ["-t", "-p"],
      destination: null,
      command: [],
    });
  });

  it("parses the options in order and the rest as the command", () => {
    const args = parseSshArgs(
      ["-p", "1", "-o", "Port=2", "-l", "a", "-i", "k1", "-ik2", "-tT", "b@h", "-h", "x y"],
      "me",
    );
    expect(args).toMatchObject({
      port: 2,
      user: "a",
      host: "h",
      identityFiles: ["k1", "k2"],
      tty: "never",
      command: "-h x y",
    });
    expect(parseSshArgs(["[fd00::1]"], "me")).toMatchObject({
      host: "fd00::1",
      user: "me",
      connectTimeoutSeconds: 15,
    });
    expect(parseSshArgs(["-o", "ConnectTimeout=3", "h"], "me")).toMatchObject({
      connectTimeoutSeconds: 3,
    });
    expect(parseSshArgs(["-p", "22", "--help", "host"], "me")).toBe("help");
  });

  it("keeps ssh's errors", () => {
    const cases: [string[], string][] = [
      [[], "HOST is required"],
      [["-p", "0", "h"], "bad port 0"],
      [["-p", "70000", "h"], "bad port 70000"],
      [["me@"], "HOST is empty"],
      [
        ["-o", "StrictHostKeyChecking=maybe", "h"],
        "-o StrictHostKeyChecking: expected yes, accept-new, no or ask, got maybe",
      ],
      [["-o", "Bogus=1", "h"], "-o Bogus: unsupported option"],
      [
        ["-o", "ConnectTimeout=0.5", "h"],
        "-o ConnectTimeout: expected whole seconds from 1 to 3600, got 0.5",
      ],
      [["-o", "NoValue", "h"], "-o NoValue: expected Option=value"],
      [["--relay", "ws://r/relay", "h"], "--relay needs --wg-config"],
      [["-X", "h"], "unknown option -X"],
      [["-p"], "-p needs a value (PORT)"],
      [["-p", "h"], "bad port h"],
    ];
    for (const [argv, message] of cases) {
      expect(
        usageErrorOf(() => parseSshArgs(argv, "me")),
        argv.join(" "),
      ).toBe(message);
    }
    expect(usageErrorOf(() => parseSshArgs(["h"], ""))).toBe(
      "no user name: give USER@HOST or -l USER",
    );
  });
});

describe("hostile command lines", () => {
  it("20,000 seeded argv: a parse or a UsageError, never another exception", () => {
    const words = [
      "-",
      "--",
      "-c",
      "-v",
      "-h",
      "--help",
      "--count",
      "--count=",
      "--count=9",
      "--verbose=",
      "--tag",
      "-vq",
      "-cv",
      "-x",
      "--x",
      "---",
      "-=",
      "--=",
      "a",
      "",
      " ",
      "-\u0000",
      "\u00e9",
      "-p",
      "-p22",
      "-o",
      "User=",
      "Port=0",
      "-l",
      "-i",
      "-tT",
      "host",
      "u@h",
      "@",
      "[::1]",
      "--wg-config",
      "--relay",
      "-t",
      "-T",
      "-m",
      "-mx",
      "-ooo",
      "-\ud800",
    ];
    const rand = seededInts(0xa765);
    let parses = 0;
    let refusals = 0;
    for (let i = 0; i < 20_000; i++) {
      const argv = Array.from({ length: rand(8) }, () =>
        rand(5) === 0
          ? String.fromCharCode(...Array.from({ length: rand(6) }, () => rand(0x80)))
          : words[rand(words.length)]!,
      );
      for (const attempt of [() => parseCommandArgs(DEMO, argv), () => parseSshArgs(argv, "me")]) {
        try {
          attempt();
          parses++;
        } catch (error) {
          if (!(error instanceof UsageError)) throw new Error(`${JSON.stringify(argv)}: ${error}`);
          expect(error.message.length).toBeLessThan(400);
          refusals++;
        }
      }
    }
    // The generator reaches both outcomes often.
    expect(parses).toBeGreaterThan(2000);
    expect(refusals).toBeGreaterThan(2000);
  });
});
