// `--expose` parsing (server/agent/ports.ts): examples with the errors people will see, and a
// seeded fuzz of 20,000 texts against a reference model (a port set expanded by brute force).

import { describe, expect, it } from "vitest";
import {
  MAX_EXPOSE_ENTRIES,
  MAX_EXPOSE_TEXT,
  PortListError,
  parsePortList,
} from "../../server/agent/ports.ts";
import { seededInts } from "../helpers/seeded.ts";

describe("parsePortList", () => {
  it("parses single ports and ranges, in any order, with spaces", () => {
    const set = parsePortList(" 8000-8100, 22,80 ");
    expect(set.toString()).toBe("22,80,8000-8100");
    for (const p of [22, 80, 8000, 8050, 8100]) expect(set.has(p)).toBe(true);
    for (const p of [1, 21, 23, 79, 81, 7999, 8101, 65535]) expect(set.has(p)).toBe(false);
    expect(parsePortList("1-65535").has(65535)).toBe(true);
    expect(parsePortList("443").ranges).toEqual([{ from: 443, to: 443 }]);
  });

  it("refuses what is not a port list, naming the entry and the rule", () => {
    const cases: [string, RegExp][] = [
      ["", /empty/],
      ["  ", /empty/],
      ["22,,80", /empty entry/],
      ["22,", /empty entry/],
      ["ssh", /'ssh' is not a port or a range/],
      ["0", /port 0 .* outside 1-65535/],
      ["65536", /port 65536 .* outside 1-65535/],
      ["123456", /not a port/],
      ["80-", /'80-' is not a port/],
      ["-80", /'-80' is not a port/],
      ["1-2-3", /'1-2-3' is not a port/],
      ["+80", /not a port/],
      ["8100-8000", /range '8100-8000' ends below its start/],
      ["22,22", /'22' is listed twice/],
      ["8000-8100,8050", /port 8050 is in both '8000-8100' and '8050'/],
      ["10-20,15-30", /port 15 is in both/],
      ["1e3", /not a port/],
      ["0x50", /not a port/],
    ];
    for (const [text, message] of cases) {
      expect(() => parsePortList(text), text).toThrow(PortListError);
      expect(() => parsePortList(text), text).toThrow(message);
    }
    expect(() => parsePortList("1,".repeat(MAX_EXPOSE_TEXT))).toThrow(/longer than/);
    const many = Array.from({ length: MAX_EXPOSE_ENTRIES + 1 }, (_, i) => i + 1).join(",");
    expect(() => parsePortList(many)).toThrow(/more than 512 entries/);
  });

  /** The reference: every entry matched by a regular expression, ports expanded into a Set. */
  function model(text: string): Set<number> | undefined {
    if (text.length > MAX_EXPOSE_TEXT) return undefined;
    const entries = text.split(",");
    if (entries.length > MAX_EXPOSE_ENTRIES) return undefined;
    const ports = new Set<number>();
    for (const entry of entries) {
      const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(entry);
      if (!m) return undefined;
      const from = Number(m[1]);
      const to = m[2] === undefined ? from : Number(m[2]);
      if (from < 1 || to > 65535 || to < from) return undefined;
      for (let p = from; p <= to; p++) {
        if (ports.has(p)) return undefined;
        ports.add(p);
      }
    }
    return ports;
  }

  it("agrees with the reference model on 20,000 seeded texts and never throws anything else", () => {
    const rand = seededInts(0xe4905e);
    const alphabet = "0123456789,- \t";
    const piece = (): string => {
      switch (rand(6)) {
        case 0:
          return String(rand(70000));
        case 1: {
          const a = rand(66000);
          return `${a}-${a + rand(300) - 20}`;
        }
        case 2:
          return String(rand(100));
        case 3:
          return Array.from({ length: rand(6) }, () => alphabet[rand(alphabet.length)]).join("");
        case 4:
          return String.fromCharCode(rand(0x3000));
        default:
          return ` ${rand(65536)} `;
      }
    };
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const text = Array.from({ length: 1 + rand(5) }, piece).join(rand(8) === 0 ? ";" : ",");
      const want = model(text);
      let got: ReturnType<typeof parsePortList> | undefined;
      try {
        got = parsePortList(text);
      } catch (e) {
        if (!(e instanceof PortListError)) throw new Error(`${JSON.stringify(text)}: ${e}`);
      }
      // Plain comparisons in the loop (expect() per port is slow); one failure names the text.
      const fail = (what: string) => expect.fail(`${JSON.stringify(text)}: ${what}`);
      if ((got !== undefined) !== (want !== undefined)) {
        fail(`parser ${got ? "accepted" : "refused"}, model ${want ? "accepted" : "refused"}`);
      }
      if (got && want) {
        accepted++;
        const size = got.ranges.reduce((n, r) => n + r.to - r.from + 1, 0);
        if (size !== want.size) fail(`${size} ports, model ${want.size}`);
        for (const p of want) if (!got.has(p)) fail(`port ${p} missing`);
        for (let k = 0; k < 20; k++) {
          const p = 1 + rand(65535);
          if (got.has(p) !== want.has(p)) fail(`has(${p}) disagrees`);
        }
        if (parsePortList(got.toString()).toString() !== got.toString()) fail("round trip");
      }
    }
    // The generator must reach both outcomes, or the comparison proves little.
    expect(accepted).toBeGreaterThan(2_000);
    expect(accepted).toBeLessThan(18_000);
  });
});
