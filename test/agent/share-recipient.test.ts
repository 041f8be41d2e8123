// A share link's recipient against a real agent (issue 17), end to end: a control server, the
// shared device as a userspace agent in this process, a share of SSH as root and of a TCP port
// made through the API, accepted with a WireGuard key whose node then joins as a known node (a
// MeshNode here, where the browser's engine would be). The recipient reaches the shared port
// and logs in as root by the device's CIDR rule; another user is refused with what the share
// allows; revoking the share ends its forward and its SSH session on the device at once, and
// the recipient's stream is refused (share_revoked). Times are printed, never asserted.

import { execFileSync } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import ssh2 from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "../../server/agent/agent.ts";
import { MeshAccess } from "../../server/agent/mesh-access.ts";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { MeshNode } from "../../server/mesh-node.ts";
import type { ControlRefusal } from "../../worker/control/client.ts";
import { CONTROL_PATH } from "../../worker/control/messages.ts";
import { parseShareLink } from "../../worker/control/share-link.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { type MeshTestbed, startMeshTestbed } from "../engine/mesh-harness.ts";
import { waitUntil } from "../helpers/wait.ts";

let bed: MeshTestbed;
let service: Server;
let servicePort = 0;
const accepted: { socket: Socket; closed: boolean }[] = [];
let device: Agent;
let guest: MeshNode | undefined;
let access: MeshAccess;
let refusal: ControlRefusal | undefined;
let shareId = "";

beforeAll(async () => {
  service = createServer({ allowHalfOpen: true }, (socket) => {
    const entry = { socket, closed: false };
    accepted.push(entry);
    socket.on("error", () => {});
    socket.on("close", () => {
      entry.closed = true;
    });
    socket.on("data", (data) => socket.write(data));
  });
  await new Promise<void>((resolve) => service.listen(0, "127.0.0.1", resolve));
  servicePort = (service.address() as { port: number }).port;
  bed = await startMeshTestbed();
  await bed.setPolicy(`{ "tagOwners": { "tag:server": ["autogroup:admin"] } }`);
  device = await bed.agent("devbox", ["tag:server"], { ephemeral: false });
  const nodes = (await bed.api("GET", "/api/v1/nodes")).json as {
    nodes: { id: number; name: string }[];
  };
  const deviceId = nodes.nodes.find((n) => n.name === "devbox")?.id;
  // The device's agent publishes its SSH host key once its hostinfo reached the server.
  let made: { status: number; json: unknown } | undefined;
  await waitUntil(
    () => made?.status === 201,
    "the share to be made (the device's SSH server known)",
    {
      everyMs: 100,
      poll: async () => {
        made = await bed.api("POST", "/api/v1/shares", {
          nodeId: deviceId,
          sshUsers: ["root"],
          ports: [servicePort],
        });
      },
    },
  );
  const link = parseShareLink((made!.json as { url: string }).url);
  if (!link.ok) throw new Error(link.message);
  shareId = link.link.id;
  const privateKey = generatePrivateKey();
  const publicKey = keyToBase64(await nodeX25519.publicKey(privateKey));
  const reply = await fetch(`${bed.baseUrl}/api/v1/shares/${shareId}/accept`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: bed.baseUrl, "user-agent": "test" },
    body: JSON.stringify({ secret: link.link.secret, nodeKey: publicKey, hostname: "guest" }),
  });
  expect(reply.status, await reply.clone().text()).toBe(201);
  guest = await MeshNode.create({
    privateKey,
    controlUrl: `${bed.baseUrl.replace(/^http/, "ws")}${CONTROL_PATH}`,
    hostname: "guest",
    onRefused: (r) => {
      refusal = r;
    },
  });
  await guest.start();
  access = new MeshAccess(guest, {
    mode: "userspace",
    serverUrl: bed.baseUrl,
    approvalUrl: () => null,
  });
}, 60_000);

afterAll(async () => {
  await guest?.close();
  await bed?.close();
  await new Promise<void>((resolve) => (service ? service.close(() => resolve()) : resolve()));
});

/** An SSH exec as `user` on the device; `banner` is what a refusal said. */
function sshExec(stream: Duplex, user: string, command: string) {
  const conn = new ssh2.Client();
  const result = {
    stdout: "",
    stderr: "",
    banner: "",
    code: undefined as number | undefined,
    closed: false,
    failed: false,
  };
  conn.on("error", () => {
    result.failed = true;
  });
  conn.on("banner", (text: string) => {
    result.banner += text;
  });
  conn.on("close", () => {
    result.closed = true;
  });
  conn.on("ready", () => {
    conn.exec(command, (error, channel) => {
      if (error) throw error;
      channel.on("data", (d: Buffer) => {
        result.stdout += d.toString();
      });
      channel.stderr.on("data", (d: Buffer) => {
        result.stderr += d.toString();
      });
      channel.on("exit", (code: number) => {
        result.code = code;
      });
    });
  });
  conn.connect({ sock: stream, username: user, hostVerifier: () => true });
  return { result, end: () => conn.end() };
}

function running(commandLine: string): boolean {
  try {
    execFileSync("/usr/bin/pgrep", ["-f", `^${commandLine}$`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("a share recipient on the shared device", () => {
  it("sees the device alone; reaches the shared port; logs in as the share's user only", async () => {
    expect([...guest!.state.peers.values()].map((p) => p.name)).toEqual(["devbox"]);
    const stream = await access.dial("devbox", servicePort);
    let echoed = "";
    stream.on("data", (d: Buffer) => {
      echoed += d.toString();
    });
    stream.on("error", () => {});
    stream.write("hello");
    await waitUntil(() => echoed === "hello", "the echo through the shared port");

    const refused = sshExec(await access.dial("devbox", 22), "daemon", "true");
    await waitUntil(() => refused.result.closed || refused.result.failed, "the refusal");
    expect(refused.result.banner).toMatch(
      /^share guest on \S+ \(100\.[0-9.]+\) may not log in as daemon: the share allows SSH as root\./,
    );

    const ssh = sshExec(await access.dial("devbox", 22), "root", "echo started; sleep 44.31");
    await waitUntil(() => ssh.result.stdout.includes("started"), "the SSH command to start");

    const at = Date.now();
    const revoked = await bed.api("DELETE", `/api/v1/shares/${shareId}`);
    expect(revoked.status).toBe(204);
    const entry = accepted.at(-1)!;
    await waitUntil(() => entry.closed, "the device's forward to the service to end");
    const forwardMs = Date.now() - at;
    await waitUntil(() => !running("sleep 44.31"), "the SSH session's process to be hung up");
    const sshMs = Date.now() - at;
    await waitUntil(() => refusal !== undefined, "the recipient's stream to be refused");
    console.log(
      `share revoked: forward ended after ${forwardMs} ms, SSH process hung up after ${sshMs} ms, recipient refused (${refusal?.code})`,
    );
    expect(refusal?.code).toBe("share_revoked");
    await waitUntil(() => device.ssh?.connections === 0, "the SSH connection to be dropped");
    expect(device.forwardCounters.revoked).toBe(1);
    ssh.end();
  }, 60_000);
});
