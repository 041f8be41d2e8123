// Import checks of a wg-quick file the page runs (issue 15, worker/wireguard/config-import.ts):
// a file without Address, or without a [Peer], is refused with the line and what is missing;
// a complete file passes as parseConfig reads it; and a seeded fuzz of files with Address and
// [Peer] lines cut out yields only ConfigError with a line inside the file.

import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../worker/wireguard/config.ts";
import { parseNetworkConfig } from "../../worker/wireguard/config-import.ts";
import { seededInts } from "../helpers/seeded.ts";
import { FULL, PRIV, PUB1 } from "./config-fixtures.ts";

/** Seeded inputs of the fuzz below. */
const FUZZ_INPUTS = 5_000;

function refusal(text: string): ConfigError {
  try {
    parseNetworkConfig(text);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("accepted");
}

describe("parseNetworkConfig", () => {
  it("accepts a complete file as parseConfig reads it", () => {
    expect(parseNetworkConfig(FULL)).toEqual(parseConfig(FULL));
  });

  it("refuses a file without Address on the [Interface] line, saying what to add", () => {
    const text = `# browser\n\n[Interface]\nPrivateKey = ${PRIV}\n\n[Peer]\nPublicKey = ${PUB1}\nAllowedIPs = 10.8.0.1/32\nEndpoint = 192.0.2.7:51820\n`;
    const error = refusal(text);
    expect(error.line).toBe(3);
    expect(error.message).toMatch(
      /^line 3: \[Interface\] has no Address: add this browser's address/,
    );
  });

  it("refuses a file without a [Peer] on its last line, saying what a peer needs", () => {
    const text = `[Interface]\nPrivateKey = ${PRIV}\nAddress = 10.8.0.5/32\n\n`;
    const error = refusal(text);
    expect(error.line).toBe(3);
    expect(error.message).toBe(
      "line 3: no [Peer] section: add one for the host, with its PublicKey, AllowedIPs and Endpoint (an IP address and port)",
    );
  });

  it(`${FUZZ_INPUTS} seeded files with lines cut out: accepted only with Address and a peer`, () => {
    const ints = seededInts(0x1f0e);
    const lines = FULL.split("\n");
    let refused = 0;
    for (let i = 0; i < FUZZ_INPUTS; i++) {
      const kept = lines.filter(() => ints(4) !== 0 || ints(2) === 0);
      // Half the inputs lose every Address or every [Peer] header on purpose.
      const cut = ints(4);
      const text = kept
        .filter((l) => !(cut === 0 && /^address/i.test(l)) && !(cut === 1 && /^\[peer\]/i.test(l)))
        .join("\n");
      let config: ReturnType<typeof parseNetworkConfig> | undefined;
      try {
        config = parseNetworkConfig(text);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        const line = (error as ConfigError).line;
        expect(line).toBeGreaterThanOrEqual(1);
        expect(line).toBeLessThanOrEqual(Math.max(1, text.split("\n").length));
        refused++;
        continue;
      }
      expect(config.interface.addresses.length).toBeGreaterThan(0);
      expect(config.peers.length).toBeGreaterThan(0);
    }
    expect(refused).toBeGreaterThan(FUZZ_INPUTS / 4);
  });
});
