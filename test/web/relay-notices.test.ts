// The relay lines of the network details (web/views/relay-notices.ts): the engine's ws://
// warning and pin error reach the page as written, the error first; nothing is shown for a
// loopback or wss:// relay that works; hostile text (a relay's close reason) stays one bounded
// line. The wording and bounds are tested here; test/e2e/relay-notices.test.ts shows both lines
// in Chromium (a pinned relay back with another key; a page and relay at a veth address).

import { describe, expect, it } from "vitest";
import { MAX_NOTICE_CHARS, relayNotices } from "../../web/views/relay-notices.ts";
import { parseRelayTarget } from "../../worker/relay/relay-url.ts";
import { seededInts } from "../helpers/seeded.ts";

const base = { state: "ready", rttMs: 3, url: "ws://127.0.0.1:8080/relay" };

describe("relayNotices", () => {
  it("shows nothing for a relay on loopback or over wss:// that works", () => {
    for (const url of ["ws://127.0.0.1:8080/relay", "wss://relay.example/relay"]) {
      const { warning } = parseRelayTarget(url);
      expect(relayNotices({ ...base, url, warning })).toEqual([]);
    }
  });

  it("shows the engine's ws:// warning for a relay across the network, word for word", () => {
    const url = "ws://relay.example:8080/relay";
    const { warning } = parseRelayTarget(url);
    expect(relayNotices({ ...base, url, warning })).toEqual([
      {
        kind: "warning",
        title: "Unencrypted relay",
        text:
          "relay ws://relay.example:8080/relay is reached over unencrypted ws://: anyone on the " +
          "way can read the relay token and watch, delay, drop or take over this relay connection " +
          "(WireGuard still encrypts the packets inside it); use wss://relay.example:8080/relay, " +
          "and pin the relay's key with #key=",
      },
    ]);
  });

  it("shows the pin error first, then the warning", () => {
    const error =
      "relay ws://10.0.0.1/relay presented key AAAA, but BBBB is pinned: not proving our key to it (another relay, or a machine in the middle)";
    const { warning } = parseRelayTarget(`ws://10.0.0.1/relay#key=${"A".repeat(43)}=`);
    const notices = relayNotices({ ...base, state: "failed", warning, error });
    expect(notices.map((n) => [n.kind, n.title])).toEqual([
      ["error", "Relay stopped"],
      ["warning", "Unencrypted relay"],
    ]);
    expect(notices[0]!.text).toBe(error);
    // Pinned: the warning no longer asks for a pin.
    expect(notices[1]!.text).not.toContain("#key=");
  });

  it("keeps hostile text to one bounded line (control characters, huge reasons, blanks)", () => {
    const rand = seededInts(0x12e1a7);
    for (let i = 0; i < 2000; i++) {
      const length = rand(2000);
      let text = "";
      for (let j = 0; j < length; j++)
        text += String.fromCharCode(rand(4) === 0 ? rand(0x20) : 0x20 + rand(0x2000));
      for (const notice of relayNotices({ ...base, error: text, warning: text })) {
        expect(notice.text.length).toBeLessThanOrEqual(MAX_NOTICE_CHARS);
        expect([...notice.text].filter((c) => c < " " || c === "\u007f")).toEqual([]);
        expect(notice.text).not.toBe("");
      }
    }
    expect(relayNotices({ ...base, error: " \n\t", warning: "\u0000\u001b" })).toEqual([]);
    const [long] = relayNotices({ ...base, error: "x".repeat(5000) });
    expect(long!.text).toBe(`${"x".repeat(MAX_NOTICE_CHARS - 1)}…`);
    const [lines] = relayNotices({ ...base, error: "closed\r\nfake line\u001b[31m" });
    expect(lines!.text).toBe("closed fake line [31m");
  });
});
