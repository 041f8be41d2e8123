// The confirmation before forgetting a host's trusted keys (after the hard stop on a changed
// host key): only the person who knows the key was really replaced should go on.

import { openDialog } from "../dialogs/dialog.ts";
import { h } from "../dom.ts";
import type { Engine } from "../engine.ts";

/** Asks the person to confirm, then forgets the host's trusted keys; true when forgotten. */
export async function confirmForgetHostKey(
  engine: Engine,
  target: { networkId: string; host: string; port: number },
): Promise<boolean> {
  const { networkId, host, port } = target;
  const forgotten = await openDialog<boolean>({
    title: `Forget the trusted key of ${host}?`,
    body: [
      h(
        "p",
        {},
        "Only do this if you know the host's key was replaced. The next connection will show " +
          "the new fingerprint for you to check against the host's own.",
      ),
    ],
    submitLabel: "Forget and reconnect",
    danger: true,
    testid: "forget-dialog",
    onSubmit: async () => {
      await engine.forgetHostKey(networkId, host, port);
      return true;
    },
  });
  return forgotten === true;
}
