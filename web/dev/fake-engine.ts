// A fake engine for looking at the views during development (web/dev/index.html); never
// imported by the shipped page. It keeps everything in memory, answers pings with made-up
// round trips, and runs an echoing "shell" on the terminal port. Host 100.64.0.66 plays a
// server whose host key changed.

import type {
  CreateNetworkInput,
  EngineApi,
  EngineStatus,
  HostEntry,
  NetworkOptions,
  NetworkStatus,
  NetworkSummary,
  SessionRequest,
  SessionUi,
  SshKeySummary,
  TerminalMessage,
} from "../../worker/api.ts";

const fakeKey = (seed: number) =>
  btoa(String.fromCharCode(...Array.from({ length: 32 }, (_, i) => (i * 37 + seed * 11) & 0xff)));

export function createFakeEngine(options: { withNetworks: boolean }): EngineApi {
  const networks: NetworkSummary[] = [];
  const hosts: HostEntry[] = [];
  const keys: SshKeySummary[] = [];
  let counter = 0;
  const sessions = new Map<string, MessagePort>();
  const started = Date.now();

  const addNetwork = (net: Omit<NetworkSummary, "id">): NetworkSummary => {
    const network = { ...net, id: `net-${++counter}` };
    networks.push(network);
    for (const peer of net.peers) {
      for (const cidr of peer.allowedIps) {
        if (/\/(32|128)$/.test(cidr)) {
          hosts.push({
            networkId: network.id,
            address: cidr.split("/")[0] ?? "",
            name: "",
            source: "peer",
          });
        }
      }
    }
    return network;
  };

  if (options.withNetworks) {
    const home = addNetwork({
      name: "home-lab",
      publicKey: fakeKey(1),
      addresses: ["100.64.0.5/32"],
      peers: [
        {
          publicKey: fakeKey(2),
          endpoint: "192.168.1.20:51820",
          allowedIps: ["100.64.0.2/32"],
          persistentKeepalive: 25,
        },
        { publicKey: fakeKey(3), allowedIps: ["100.64.0.3/32", "10.10.0.0/24"] },
      ],
      relayUrl: "ws://127.0.0.1:8080/relay",
      persisted: true,
    });
    hosts.push({ networkId: home.id, address: "10.10.0.7", name: "nas", source: "user" });
    hosts.push({ networkId: home.id, address: "100.64.0.66", name: "rebuilt", source: "user" });
    addNetwork({
      name: "office",
      publicKey: fakeKey(4),
      addresses: ["100.70.1.9/32"],
      peers: [{ publicKey: fakeKey(5), allowedIps: ["100.70.0.0/16"] }],
      relayUrl: "ws://127.0.0.1:8080/relay",
      persisted: false,
    });
  }

  const find = (id: string) => {
    const network = networks.find((n) => n.id === id);
    if (!network) throw new Error(`No network ${id}`);
    return network;
  };

  const status = (id: string): NetworkStatus => {
    const network = find(id);
    const t = (Date.now() - started) / 1000;
    return {
      id,
      state: "running",
      relay: { state: "connected", rttMs: 18 + Math.round(Math.sin(t) * 4), url: network.relayUrl },
      peers: network.peers.map((p, i) => ({
        publicKey: p.publicKey,
        lastHandshake: i === 0 ? Date.now() - 12_000 : null,
        rxBytes: i === 0 ? 1_234_567 + Math.round(t * 1000) : 0,
        txBytes: i === 0 ? 345_678 + Math.round(t * 500) : 148,
      })),
    };
  };

  return {
    async status(): Promise<EngineStatus> {
      return { cryptoBuild: "simd", simdSupported: true, persistentStorage: true };
    },
    async listNetworks() {
      return structuredClone(networks);
    },
    async importNetwork(configText: string, opts: NetworkOptions) {
      if (!/\[Interface\]/.test(configText))
        throw new Error("line 1: expected an [Interface] section");
      return addNetwork({
        name: opts.name,
        publicKey: fakeKey(++counter),
        addresses: ["100.64.0.9/32"],
        peers: [{ publicKey: fakeKey(++counter), allowedIps: ["100.64.0.1/32"] }],
        relayUrl: opts.relayUrl ?? "",
        persisted: opts.persist,
      });
    },
    async generateNetworkKey() {
      return "kQ3Yd1mQe7a9Lw2VtX0pJc4sRz8uHn6bGf5yDx1oBkI=";
    },
    async createNetwork(input: CreateNetworkInput) {
      return addNetwork({
        name: input.name,
        publicKey: input.publicKey,
        addresses: input.addresses,
        peers: [input.peer],
        relayUrl: input.relayUrl ?? "",
        persisted: input.persist,
      });
    },
    async removeNetwork(id: string) {
      networks.splice(networks.indexOf(find(id)), 1);
    },
    async startNetwork(id: string) {
      return status(id);
    },
    async networkStatus(id: string) {
      return status(id);
    },
    async listHosts(networkId: string) {
      return hosts.filter((h) => h.networkId === networkId);
    },
    async addHost(networkId: string, address: string, name: string) {
      find(networkId);
      const host: HostEntry = { networkId, address, name, source: "user" };
      hosts.push(host);
      return host;
    },
    async removeHost(networkId: string, address: string) {
      const i = hosts.findIndex((h) => h.networkId === networkId && h.address === address);
      if (i >= 0) hosts.splice(i, 1);
    },
    async pingHost(_networkId: string, address: string) {
      await new Promise((r) => setTimeout(r, 300));
      return address.endsWith(".3") ? null : 20 + (address.length % 7) * 3;
    },
    async listSshKeys() {
      return structuredClone(keys);
    },
    async generateSshKey(comment: string, persist: boolean) {
      const key: SshKeySummary = {
        id: `key-${++counter}`,
        type: "ssh-ed25519",
        comment,
        fingerprint: "SHA256:n5Hq3c0mS2b0bV1x0I6Yb3T9kq2W8yWmQf6e0rPzC9g",
        authorizedKey: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK8nq3c0mS2b0bV1x0I6Yb3T9kq2W8yWmQf6e0rPzC9g ${comment}`,
        persisted: persist,
      };
      keys.push(key);
      return key;
    },
    async importSshKey() {
      throw new Error("RSA keys are not supported; use an Ed25519 key");
    },
    async removeSshKey(id: string) {
      const i = keys.findIndex((k) => k.id === id);
      if (i >= 0) keys.splice(i, 1);
    },
    async openSession(request: SessionRequest, ui: SessionUi, port: MessagePort) {
      const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
      ui.onState("connecting", "");
      await wait(200);
      ui.onState("handshaking", "");
      if (request.host === "100.64.0.66") {
        const reason =
          "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\n" +
          "The ssh-ed25519 key of 100.64.0.66 was SHA256:7kT9mZQ2b4q1cL0xVn3yW8e5RzA6sD2fG1hJ0kP9uXo, " +
          "it is now SHA256:Qm4pX2v9Lr7Tz1nB8cY3wK6eH0aS5dF2gJ9uV4iO7tE.";
        ui.onState("closed", reason);
        throw new Error(reason);
      }
      const trusted = await ui.confirmHostKey({
        host: request.host,
        port: request.port,
        keyType: "ssh-ed25519",
        fingerprint: "SHA256:7kT9mZQ2b4q1cL0xVn3yW8e5RzA6sD2fG1hJ0kP9uXo",
      });
      if (!trusted) {
        ui.onState("closed", "Host key not trusted.");
        throw new Error("Host key not trusted.");
      }
      ui.onState("authenticating", "");
      const password = await ui.askPassword(`${request.username}@${request.host}'s password:`);
      if (password === null) {
        ui.onState("closed", "Authentication cancelled.");
        throw new Error("Authentication cancelled.");
      }
      const id = `s-${++counter}`;
      sessions.set(id, port);
      const send = (text: string) =>
        port.postMessage({
          type: "output",
          data: new TextEncoder().encode(text),
        } satisfies TerminalMessage);
      ui.onBanner("Welcome to the fake host.\n");
      ui.onState("connected", "");
      send(
        `Linux fake 6.1.0 x86_64 (${request.cols}x${request.rows})\r\n${request.username}@fake:~$ `,
      );
      port.onmessage = (event: MessageEvent<TerminalMessage>) => {
        const msg = event.data;
        if (msg.type === "input") {
          const text = new TextDecoder().decode(msg.data);
          send(text.replace(/\r/g, `\r\n${request.username}@fake:~$ `));
        } else if (msg.type === "resize") {
          send(`\r\n[resized to ${msg.cols}x${msg.rows}]\r\n`);
        }
      };
      return id;
    },
    async closeSession(id: string) {
      sessions.get(id)?.close();
      sessions.delete(id);
    },
  };
}
