// First contact with an SSH server: show its host key fingerprint and let the user decide.
// Only a host with no trusted key at all gets here: a key of another type than a trusted one
// is refused by the engine as a changed key (the hard stop in web/terminal/closed-panel.ts).

import type { HostKeyPrompt } from "../../worker/api.ts";
import { h } from "../dom.ts";
import { openDialog } from "./dialog.ts";

/** The file on the server that holds a host key of `keyType`, as OpenSSH names it. */
function hostKeyFile(keyType: string): string {
  if (keyType.startsWith("ecdsa-")) return "/etc/ssh/ssh_host_ecdsa_key.pub";
  if (keyType === "ssh-rsa" || keyType.startsWith("rsa-")) return "/etc/ssh/ssh_host_rsa_key.pub";
  return "/etc/ssh/ssh_host_ed25519_key.pub";
}

/** Asks whether to trust the host key of a first connection; resolves true to trust it. */
export async function confirmHostKey(
  prompt: HostKeyPrompt,
  signal?: AbortSignal,
): Promise<boolean> {
  const target = prompt.port === 22 ? prompt.host : `${prompt.host}:${prompt.port}`;
  const answer = await openDialog<boolean>({
    title: "Unknown host key",
    testid: "hostkey-dialog",
    submitTestid: "hostkey-trust",
    body: [
      h(
        "p",
        { class: "dialog-text" },
        "This is the first connection to ",
        h("strong", { text: target }),
        " through this network. Check the fingerprint against the server's own (",
        h("code", { text: `ssh-keygen -lf ${hostKeyFile(prompt.keyType)}` }),
        ") before trusting it.",
      ),
      h(
        "dl",
        { class: "facts" },
        h("dt", { text: "Host" }),
        h("dd", { text: target }),
        h("dt", { text: "Key type" }),
        h("dd", { text: prompt.keyType }),
        h("dt", { text: "Fingerprint" }),
        h("dd", { class: "mono", testid: "hostkey-fingerprint", text: prompt.fingerprint }),
      ),
    ],
    submitLabel: "Trust and connect",
    onSubmit: () => true,
    ...(signal ? { signal } : {}),
  });
  return answer === true;
}
