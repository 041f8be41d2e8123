// Host key decisions (DESIGN §8): keys pinned by the caller (e.g. published by the control
// server) first, then a known-hosts store. A known key passes; a changed or revoked key is
// refused with both fingerprints, whatever the policy; so is a key of a type the store does
// not hold for a host it holds other keys for (an impostor inside the tunnel would offer only
// a type we have not pinned, to get an ordinary first-use prompt instead of the hard stop).
// Only a host with no key at all is the caller's call (StrictHostKeyChecking yes / accept-new
// / no, or ask a person).

import { HostKeyError } from "./errors.ts";
import { fingerprintSha256 } from "./fingerprint.ts";
import type { HostKeyInfo, HostKeyVerifier } from "./kex/driver.ts";
import { DEFAULT_HOST_KEY_ALGORITHMS } from "./kex/driver.ts";
import type { KnownHosts } from "./known-hosts.ts";
import { SSH_DISCONNECT } from "./messages.ts";

/** What to do with a host key that is not known yet (OpenSSH's StrictHostKeyChecking). */
export type UnknownKeyPolicy =
  /** Refuse it. */
  | "yes"
  /** Accept and remember it. */
  | "accept-new"
  /** Accept without remembering (changed keys are still refused). */
  | "no"
  /** Ask `confirm`; remember it when accepted. */
  | "ask";

/** Options of hostKeyVerifier. */
export interface HostKeyPolicyOptions {
  host: string;
  port: number;
  knownHosts: KnownHosts;
  policy: UnknownKeyPolicy;
  /** Keys that are known to belong to the host whatever the store says (wire blobs). */
  pinned?: readonly Uint8Array[];
  /** For "ask": shows the fingerprint to a person; resolves true to trust it. */
  confirm?: (key: HostKeyInfo) => Promise<boolean>;
  /** Called after a key was added to knownHosts (to save the file or the IndexedDB record). */
  onLearned?: (key: HostKeyInfo) => void | Promise<void>;
}

function refuse(message: string): never {
  throw new HostKeyError(message, SSH_DISCONNECT.HOST_KEY_NOT_VERIFIABLE, "client");
}

function label(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** A HostKeyVerifier applying the pinned keys, the known-hosts store and the policy. */
export function hostKeyVerifier(options: HostKeyPolicyOptions): HostKeyVerifier {
  return async (key) => {
    const { host, port } = options;
    const where = label(host, port);
    const pinned = options.pinned ?? [];
    if (pinned.length > 0) {
      if (
        pinned.some(
          (p) => p.length === key.keyBlob.length && p.every((b, i) => b === key.keyBlob[i]),
        )
      ) {
        return;
      }
      refuse(
        `host key for ${where} does not match its pinned key: the server sent ${key.keyType} ${key.fingerprint}, expected ${pinned.map(fingerprintSha256).join(" or ")}`,
      );
    }
    const found = options.knownHosts.lookup(host, port, key.keyType, key.keyBlob);
    if (found.status === "match") return;
    if (found.status === "revoked") {
      refuse(
        `host key ${key.keyType} ${key.fingerprint} for ${where} is marked @revoked (line ${found.known?.[0]?.line})`,
      );
    }
    if (found.status === "mismatch" || found.status === "other-type") {
      // "TYPE SHA256:… (line N)" per known key: the page's hard-stop panel reads these back.
      const known = (found.known ?? [])
        .map((k) => `${k.keyType} ${k.fingerprint} (line ${k.line})`)
        .join(", ");
      const why =
        found.status === "other-type" ? ", and the server offered no key of the known type" : "";
      refuse(
        `HOST KEY FOR ${where} HAS CHANGED: the server sent ${key.keyType} ${key.fingerprint}, but the known key is ${known}${why}. Someone could be intercepting the connection (or the host key was replaced). Refusing to connect.`,
      );
    }
    let accepted: boolean;
    if (options.policy === "yes") accepted = false;
    else if (options.policy === "ask") accepted = (await options.confirm?.(key)) === true;
    else accepted = true;
    if (!accepted) {
      refuse(
        `host key ${key.keyType} ${key.fingerprint} for ${where} is not known and was not accepted`,
      );
    }
    if (options.policy !== "no") {
      options.knownHosts.add(host, port, key.keyType, key.keyBlob);
      await options.onLearned?.(key);
    }
  };
}

/**
 * Host key algorithms with those the store already knows for the host first, as ssh(1)
 * orders them: a server that has a key of the known type then presents it, so a key of
 * another type (refused as changed) means the known one is gone.
 */
export function preferKnownAlgorithms(
  knownHosts: KnownHosts,
  host: string,
  port: number,
): string[] {
  const known = knownHosts.keyTypesFor(host, port);
  const algorithmsOf = (type: string) =>
    DEFAULT_HOST_KEY_ALGORITHMS.filter(
      (a) => a === type || (type === "ssh-rsa" && a.startsWith("rsa-sha2-")),
    );
  const first = known.flatMap(algorithmsOf);
  return [...new Set([...first, ...DEFAULT_HOST_KEY_ALGORITHMS])];
}
