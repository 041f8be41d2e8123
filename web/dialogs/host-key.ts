// First contact with an SSH server: show its host key fingerprint and let the user decide.

import type { HostKeyPrompt } from "../../worker/api.ts";
import { h } from "../dom.ts";
import { openDialog } from "./dialog.ts";

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
        h("code", { text: "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub" }),
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
