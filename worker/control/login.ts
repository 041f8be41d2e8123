// The `login` a ControlClient sends (client.ts): the proof for this hello, the registration
// options, and the resume point or key rotation when there is one. Also the check the client
// runs on its options at construction, so that a login the server would refuse fails at once
// instead of being retried forever.

import type { ControlClientOptions } from "./client-options.ts";
import { encodeClientMessage } from "./codec.ts";
import type { ResumePoint } from "./map-state.ts";
import type { HelloMessage, Hostinfo, LoginMessage } from "./messages.ts";
import { loginProof } from "./proof.ts";

type LoginOptions = Pick<
  ControlClientOptions,
  "core" | "x25519" | "privateKey" | "authKey" | "ephemeral" | "tags" | "onSignal"
>;

/** The registration fields of `options` that are set. */
function registration(options: LoginOptions): Partial<LoginMessage> {
  const out: Partial<LoginMessage> = {};
  if (options.authKey !== undefined) out.authKey = options.authKey;
  if (options.ephemeral !== undefined) out.ephemeral = options.ephemeral;
  if (options.tags !== undefined) out.tags = options.tags;
  if (options.onSignal !== undefined) out.caps = ["signal"];
  return out;
}

/** Throws ControlProtocolError naming the field when hostinfo, authKey or tags are invalid. */
export function checkLoginOptions(options: LoginOptions, hostinfo: Hostinfo): void {
  const placeholder = `${"A".repeat(43)}=`;
  encodeClientMessage({
    type: "login",
    nodeKey: placeholder,
    proof: placeholder,
    hostinfo,
    ...registration(options),
  });
}

/**
 * The login for `hello`: proofs made with the node's key (and with `rotateFrom`, the previous
 * key, when rotating), and `resume` when the map has a resume point.
 */
export async function buildLogin(
  options: LoginOptions,
  hostinfo: Hostinfo,
  hello: HelloMessage,
  rotateFrom: Uint8Array | undefined,
  resume: ResumePoint | undefined,
): Promise<LoginMessage> {
  const { core, x25519, privateKey } = options;
  const own = await loginProof(core, x25519, privateKey, hello);
  const login: LoginMessage = {
    type: "login",
    nodeKey: own.nodeKey,
    proof: own.proof,
    hostinfo,
    ...registration(options),
  };
  if (rotateFrom !== undefined) {
    const old = await loginProof(core, x25519, rotateFrom, hello);
    login.rotateFrom = { nodeKey: old.nodeKey, proof: old.proof };
  }
  if (resume !== undefined) login.resume = resume;
  return login;
}
