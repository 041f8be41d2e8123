// Problem sentences from the engine (worker/engine/peer-problems.ts) are split into text and
// command-line flags so the page can show flags as <code> that never wraps. Fuzzed: the parts
// always join back to the sentence, and no part is empty.

import { describe, expect, it } from "vitest";
import { messageParts } from "../../web/views/peer-problem.ts";
import { problemOfReason } from "../../worker/engine/peer-problems.ts";
import { seededInts } from "../helpers/seeded.ts";

describe("messageParts", () => {
  it("keeps --allow-udp and its value together as code", () => {
    const { message } = problemOfReason(0, "10.0.0.5:51820");
    const parts = messageParts(message);
    expect(parts.filter((p) => p.code).map((p) => p.text)).toEqual([
      "--allow-udp 10.0.0.5/32:51820",
    ]);
    expect(parts.map((p) => p.text).join("")).toBe(message);
  });

  it("leaves a flag's plain-word neighbour as text, and text without flags whole", () => {
    expect(messageParts("only a narrow --allow-udp opens it")).toEqual([
      { text: "only a narrow ", code: false },
      { text: "--allow-udp", code: true },
      { text: " opens it", code: false },
    ]);
    expect(messageParts("no answer from the endpoint")).toEqual([
      { text: "no answer from the endpoint", code: false },
    ]);
    expect(messageParts("")).toEqual([]);
  });

  it("always joins back to the sentence (2000 seeded inputs)", () => {
    const alphabet = "ab -–—:/[]()0129.\n\u202e<>&\"'";
    const next = seededInts(15);
    for (let i = 0; i < 2000; i++) {
      const len = next(60);
      let text = "";
      for (let j = 0; j < len; j++) {
        text += next(5) === 0 ? "--allow-udp" : alphabet[next(alphabet.length)];
      }
      const parts = messageParts(text);
      expect(parts.map((p) => p.text).join("")).toBe(text);
      for (const p of parts) {
        expect(p.text.length).toBeGreaterThan(0);
        if (p.code) expect(p.text.startsWith("--")).toBe(true);
      }
    }
  });
});
