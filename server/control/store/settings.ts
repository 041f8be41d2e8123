// The mesh's settings, chosen once at first start and then read at every start: the ULA /48,
// the mesh domain, the Ed25519 key that signs relay tokens and the X25519 key of the map
// stream's hello. Two servers starting at once on one fresh database both generate, one wins
// (initSettings keeps the first) and both use the winner's.

import { randomBytes } from "node:crypto";
import { parseUlaPrefix, randomUlaPrefix } from "./addresses.ts";
import type { MeshSettings, StoreTx } from "./types.ts";

/** The mesh domain unless set: `NAME.corridor.internal`. */
export const DEFAULT_DOMAIN = "corridor.internal";

/** New settings: a random ULA prefix, the default domain, two random 32-byte private keys. */
export function newSettings(random: (n: number) => Uint8Array = randomBytes): MeshSettings {
  return {
    ipv6Prefix: randomUlaPrefix(random),
    domain: DEFAULT_DOMAIN,
    // Any 32 bytes are an Ed25519 seed and an X25519 scalar (clamped where it is used).
    tokenSigningKey: Buffer.from(random(32).subarray(0, 32)).toString("base64"),
    helloKey: Buffer.from(random(32).subarray(0, 32)).toString("base64"),
  };
}

function key32(field: string, value: string): void {
  const bytes = Buffer.from(value, "base64");
  if (bytes.length !== 32 || bytes.toString("base64") !== value) {
    throw new Error(`stored settings: ${field} is not 32 bytes of base64`);
  }
}

/** Throws naming the field when stored settings are not usable (a database edited by hand). */
export function checkSettings(settings: MeshSettings): MeshSettings {
  try {
    parseUlaPrefix(settings.ipv6Prefix);
  } catch (error) {
    throw new Error(`stored settings: ${(error as Error).message}`);
  }
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(settings.domain)) {
    throw new Error(`stored settings: domain '${settings.domain.slice(0, 64)}' is not a DNS name`);
  }
  key32("tokenSigningKey", settings.tokenSigningKey);
  key32("helloKey", settings.helloKey);
  return settings;
}

/** The stored settings, generated and stored the first time. */
export async function loadOrInitSettings(
  store: StoreTx,
  random: (n: number) => Uint8Array = randomBytes,
): Promise<MeshSettings> {
  const stored = await store.getSettings();
  if (stored !== null) return checkSettings(stored);
  return checkSettings(await store.initSettings(newSettings(random)));
}
