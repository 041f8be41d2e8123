// A network namespace for a TUN-mode node under test, joined to ours by a veth pair on a /30
// (wg-netns.ts names it, picks the subnet and removes what a crashed run left). The TunNode
// runs in this process with `netns` set, so its interface lives in the namespace, and its
// relay bridge sockets listen on our end of the veth (`ourAddress`) and send to the interface
// at the namespace's end (`nsAddress`).

import {
  addSubnet,
  installExitHook,
  newStem,
  removeNamespaceSync,
  removeStaleHosts,
  unclosed,
} from "../interop/wg-netns.ts";
import { must, run, WG_TOOLS } from "../interop/wg-tools.ts";

/** The namespace and the names in it. */
export interface TunNetns {
  namespace: string;
  /** The WireGuard interface name to give the TunNode (unique: wireguard-go's socket is global). */
  iface: string;
  /** Our end of the veth, and the namespace's. */
  ourAddress: string;
  nsAddress: string;
  /** Runs a command inside the namespace (never rejects). */
  exec(cmd: readonly string[]): ReturnType<typeof run>;
  /** Deletes the veth and the namespace (killing what still runs in it). */
  close(): Promise<void>;
}

/** Makes a fresh namespace with its veth pair up. */
export async function createTunNetns(prefix = "ctun"): Promise<TunNetns> {
  installExitHook();
  await removeStaleHosts(prefix);
  const namespace = newStem(prefix);
  await must([WG_TOOLS.ip, "netns", "add", namespace]);
  const vethRoot = `${namespace}r`;
  const vethNs = `${namespace}n`;
  const teardown = () => removeNamespaceSync(namespace, vethRoot);
  unclosed.add(teardown);
  try {
    await must([WG_TOOLS.ip, "-n", namespace, "link", "set", "lo", "up"]);
    await must([
      WG_TOOLS.ip,
      "link",
      "add",
      vethRoot,
      "type",
      "veth",
      "peer",
      "name",
      vethNs,
      "netns",
      namespace,
    ]);
    const { ourAddress, hostAddress } = await addSubnet(vethRoot);
    await must([WG_TOOLS.ip, "link", "set", vethRoot, "up"]);
    await must([WG_TOOLS.ip, "-n", namespace, "addr", "add", `${hostAddress}/30`, "dev", vethNs]);
    await must([WG_TOOLS.ip, "-n", namespace, "link", "set", vethNs, "up"]);
    return {
      namespace,
      iface: `${namespace}w`,
      ourAddress,
      nsAddress: hostAddress,
      exec: (cmd) => run([WG_TOOLS.ip, "netns", "exec", namespace, ...cmd]),
      async close() {
        unclosed.delete(teardown);
        teardown();
      },
    };
  } catch (error) {
    unclosed.delete(teardown);
    teardown();
    throw error;
  }
}
