// The relay hello exchange (DESIGN §4), as pure steps the client runs: SERVER_HELLO's relay key
// checked against the pin before anything is proved to it (a relay we did not mean to reach
// must not get a proof it could replay elsewhere), the CLIENT_HELLO built with the proof of our
// key, and WELCOME's JSON read leniently (it is informational: relay id, limits).

import { keyToBase64 } from "../wireguard/keys.ts";
import type { RelayBindOptions } from "./client-options.ts";
import * as F from "./frames.ts";
import { nodeProof } from "./proof.ts";
import { type RelayTarget, sameKey } from "./relay-url.ts";

/**
 * Why the relay key SERVER_HELLO carried is refused: another key than the pinned one. Undefined
 * when there is no pin or the key is the pinned one.
 */
export function relayKeyRefusal(target: RelayTarget, relayKey: Uint8Array): string | undefined {
  const pinned = target.pinnedKey;
  if (pinned === undefined || sameKey(pinned, relayKey)) return undefined;
  return (
    `relay ${target.url} presented key ${keyToBase64(relayKey)}, but ${keyToBase64(pinned)} is ` +
    "pinned: not proving our key to it (another relay, or a machine in the middle)"
  );
}

/** CLIENT_HELLO: our public key, the proof over the relay's key and challenge, the token. */
export async function clientHello(
  options: Pick<RelayBindOptions, "core" | "x25519" | "privateKey">,
  publicKey: () => Promise<Uint8Array>,
  relayKey: Uint8Array,
  challenge: Uint8Array,
  token: string | undefined,
): Promise<Uint8Array> {
  const { core, x25519, privateKey } = options;
  const proof = await nodeProof(core, x25519, privateKey, relayKey, challenge);
  return F.encodeClientHello(await publicKey(), proof, token ?? "");
}

/** WELCOME's JSON as an object; anything else (not JSON, not an object) reads as {}. */
export function parseWelcome(json: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(json);
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
