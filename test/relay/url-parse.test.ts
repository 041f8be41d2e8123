// Relay URLs without their path (issue 14 item 8): a base URL means its /relay, a proxy's
// prefix before /relay is kept, and any other path fails at once naming the expected form,
// instead of a relay answering 404 to every attempt.

import { describe, expect, it } from "vitest";
import { parseRelayTarget } from "../../worker/relay/relay-url.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";

const key = new Uint8Array(32).fill(7);

describe("relay URL paths", () => {
  it("adds /relay to a base URL, keeping the query and the #key= pin", () => {
    expect(parseRelayTarget("ws://127.0.0.1:8080").url).toBe("ws://127.0.0.1:8080/relay");
    expect(parseRelayTarget("ws://127.0.0.1:8080/").url).toBe("ws://127.0.0.1:8080/relay");
    expect(parseRelayTarget("wss://relay.example").url).toBe("wss://relay.example/relay");
    expect(parseRelayTarget("ws://[::1]:9/?x=1").url).toBe("ws://[::1]:9/relay?x=1");
    const pinned = parseRelayTarget(
      `ws://127.0.0.1:8080#key=${encodeURIComponent(keyToBase64(key))}`,
    );
    expect(pinned.url).toBe("ws://127.0.0.1:8080/relay");
    expect(pinned.pinnedKey).toEqual(key);
  });

  it("keeps /relay, and a prefix before it (a reverse proxy's)", () => {
    expect(parseRelayTarget("ws://127.0.0.1:8080/relay").url).toBe("ws://127.0.0.1:8080/relay");
    expect(parseRelayTarget("wss://example.com/corridor/relay").url).toBe(
      "wss://example.com/corridor/relay",
    );
  });

  it("refuses any other path, naming the expected form", () => {
    for (const url of [
      "ws://127.0.0.1:8080/control",
      "ws://127.0.0.1:8080/relay/",
      "ws://127.0.0.1:8080/relays",
      "wss://relay.example/api",
    ]) {
      expect(() => parseRelayTarget(url), url).toThrow(
        `relay URL ${url}: the path ${new URL(url).pathname} is not a relay's; expected ws://HOST:PORT/relay (or the base URL ws://HOST:PORT, to which /relay is added)`,
      );
    }
  });
});
