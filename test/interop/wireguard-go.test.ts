// Interop with stock WireGuard: our engine in Node over UDP against wireguard-go (Debian's,
// with wireguard-tools) in a network namespace of the test's own (DESIGN §5). The inner
// traffic is an ICMP echo that the Linux kernel behind wireguard-go answers, and a UDP
// datagram the namespace sends to us through the tunnel.

import { afterEach, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { UdpBind } from "../../server/udp-bind.ts";
import { loadCryptoCore } from "../../worker/crypto/index.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { Device } from "../../worker/wireguard/device.ts";
import {
  generatePresharedKey,
  generatePrivateKey,
  keyFromBase64,
  keyToBase64,
} from "../../worker/wireguard/keys.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { createWgHost, type WgHost, wgHostPrereq } from "./wg-host.ts";

const OUR_TUNNEL = "100.64.0.1";
const THEIR_TUNNEL = "100.64.0.2";

/** An ICMPv4 echo request 100.64.0.1 -> 100.64.0.2 with valid checksums (id 0x4242, `seq`). */
function echoRequest(seq: number): Uint8Array {
  const payload = new TextEncoder().encode("corridor-interop");
  const p = new Uint8Array(20 + 8 + payload.length);
  p.set([0x45, 0, 0, p.length, 0x12, 0x34, 0, 0, 64, 1, 0, 0, 100, 64, 0, 1, 100, 64, 0, 2]);
  p.set([8, 0, 0, 0, 0x42, 0x42, seq >> 8, seq & 0xff], 20);
  p.set(payload, 28);
  const ipSum = checksum(p.subarray(0, 20));
  p[10] = ipSum >> 8;
  p[11] = ipSum & 0xff;
  const icmpSum = checksum(p.subarray(20));
  p[22] = icmpSum >> 8;
  p[23] = icmpSum & 0xff;
  return p;
}

function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Whether `p` is the echo reply to echoRequest(seq) from 100.64.0.2. */
function isEchoReply(p: Uint8Array, seq: number): boolean {
  return (
    p[9] === 1 &&
    p.slice(12, 16).join(".") === THEIR_TUNNEL &&
    p[20] === 0 &&
    p[24] === 0x42 &&
    p[26] === seq >> 8 &&
    p[27] === (seq & 0xff)
  );
}

async function waitFor(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Rig {
  host: WgHost;
  device: Device;
  bind: UdpBind;
  clock: FakeClock;
  received: Uint8Array[];
}

const rigs: Rig[] = [];
afterEach(async () => {
  for (const rig of rigs.splice(0)) {
    await rig.device.close();
    await rig.host.close();
  }
});

/** Our device and a wireguard-go host peered with it; `weInitiate` decides who knows whose endpoint. */
async function rig(options: { psk: boolean; weInitiate: boolean }): Promise<Rig> {
  const core = await loadCryptoCore();
  const privateKey = generatePrivateKey();
  const psk = options.psk ? generatePresharedKey() : undefined;
  const clock = new FakeClock(1_000_000, Date.now() - 1_000_000);
  const bind = new UdpBind({ host: "0.0.0.0", port: 0 });
  const received: Uint8Array[] = [];
  const device = await Device.create({
    privateKey,
    bind,
    core,
    x25519: nodeX25519,
    clock,
    onPacket: (packet) => received.push(packet.slice()),
  });
  const ourKey = keyToBase64(device.publicKey);
  const host = await createWgHost({
    peer: {
      publicKey: ourKey,
      allowedIps: `${OUR_TUNNEL}/32`,
      presharedKey: psk ? keyToBase64(psk) : undefined,
    },
  });
  const made = { host, device, bind, clock, received };
  rigs.push(made);
  if (!options.weInitiate) {
    await host.setPeer({ publicKey: ourKey, endpoint: `${host.ourAddress}:${bind.localPort}` });
  }
  await device.addPeer({
    publicKey: keyFromBase64(host.publicKey),
    presharedKey: psk,
    endpoint: options.weInitiate ? `${host.hostAddress}:${host.listenPort}` : undefined,
    allowedIps: [`${THEIR_TUNNEL}/32`],
  });
  return made;
}

/** Sends echo `seq` and waits for the kernel's reply through the tunnel. */
async function ping(r: Rig, seq: number): Promise<void> {
  r.device.send(echoRequest(seq));
  await waitFor(`echo reply ${seq}`, () => r.received.some((p) => isEchoReply(p, seq)));
}

describeWithPrereq(wgHostPrereq(), "interop with wireguard-go", () => {
  for (const psk of [false, true]) {
    const label = psk ? "with a preshared key" : "without a preshared key";

    it(`we initiate, ${label}: the kernel behind wireguard-go answers our ICMP echo`, async () => {
      const r = await rig({ psk, weInitiate: true });
      await ping(r, 1);
      await ping(r, 2);
      const [them] = r.device.peerStats();
      expect(them!.lastHandshake).toBeGreaterThan(0);
      expect(them!.endpoint).toBe(`${r.host.hostAddress}:${r.host.listenPort}`);
    });

    it(`wireguard-go initiates, ${label}: its UDP datagram reaches us, then our echo is answered`, async () => {
      const r = await rig({ psk, weInitiate: false });
      // The namespace's kernel routes this into wireguard-go, which must handshake with us first.
      const sent = await r.host.exec(["bash", "-c", `echo interop > /dev/udp/${OUR_TUNNEL}/9`]);
      expect(sent.code).toBe(0);
      await waitFor("the namespace's UDP datagram", () =>
        r.received.some(
          (p) => p[9] === 17 && new TextDecoder().decode(p.subarray(28)).startsWith("interop"),
        ),
      );
      // We learned its endpoint from the handshake (roaming) and answer through its session.
      await ping(r, 7);
      expect(r.device.peerStats()[0]!.endpoint).toBe(`${r.host.hostAddress}:${r.host.listenPort}`);
    });
  }

  it("traffic continues after we force a rekey with the fake clock", async () => {
    const r = await rig({ psk: true, weInitiate: true });
    await ping(r, 1);
    const firstHandshake = (await r.host.wgShow()).find(
      (p) => p.publicKey === keyToBase64(r.device.publicKey),
    )!.latestHandshake;
    // 121 s later our current keypair is past REKEY_AFTER_TIME: the next send starts a handshake.
    r.clock.advance(121_000);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // wg show has one-second resolution
    await ping(r, 2);
    await r.host.waitForHandshake(keyToBase64(r.device.publicKey));
    const after = (await r.host.wgShow()).find(
      (p) => p.publicKey === keyToBase64(r.device.publicKey),
    )!;
    expect(after.latestHandshake).toBeGreaterThan(firstHandshake);
    await ping(r, 3);
  });

  it("wg show on wireguard-go's side reports our handshake and the bytes we exchanged", async () => {
    const r = await rig({ psk: false, weInitiate: true });
    for (let seq = 1; seq <= 5; seq++) await ping(r, seq);
    r.device.flush();
    const ourKey = keyToBase64(r.device.publicKey);
    const them = (await r.host.wgShow()).find((p) => p.publicKey === ourKey);
    expect(them).toBeDefined();
    const now = Math.floor(Date.now() / 1000);
    expect(them!.latestHandshake).toBeGreaterThan(now - 30);
    expect(them!.endpoint).toBe(`${r.host.ourAddress}:${r.bind.localPort}`);
    const ours = r.device.peerStats()[0]!;
    // Both sides count the bytes of the WireGuard messages (UDP payloads) they exchanged.
    expect(them!.rxBytes).toBeGreaterThan(0);
    expect(them!.txBytes).toBeGreaterThan(0);
    expect(them!.rxBytes).toBe(ours.txBytes);
    expect(them!.txBytes).toBe(ours.rxBytes);
  });
});
