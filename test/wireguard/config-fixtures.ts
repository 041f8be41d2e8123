// A realistic wg-quick file and what parseConfig makes of it, shared by the config tests.

import type { WgConfig } from "../../worker/wireguard/config.ts";
import { keyFromBase64 } from "../../worker/wireguard/keys.ts";

// Keys from the wg(8) man page, and one preshared key.
export const PRIV = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
export const PUB1 = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
export const PUB2 = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=";
export const PUB3 = "gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=";
export const PSK = "FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=";

/** A wg0.conf as people write them: comments, case, spacing, wg-quick-only settings. */
export const FULL = `# wg0: the office mesh
[Interface]
PrivateKey = ${PRIV}
Address = 10.192.122.1/24, FD00:ABCD:0:0::1/64
Address = 10.10.0.1
ListenPort = 51820
MTU = 1420
DNS = 1.1.1.1, 2606:4700:4700::1111, corp.example.com
PostUp = iptables -A FORWARD -i %i -j ACCEPT # forward
SaveConfig = false

[Peer]
# laptop
PublicKey = ${PUB1}
PresharedKey = ${PSK}
Endpoint = 192.95.5.67:1234
AllowedIPs = 10.192.122.3/32, 10.192.124.1/24
AllowedIPs = fd00:abcd::3/128
PersistentKeepalive = 25

[peer]
publickey=${PUB2}
  endpoint =   [2607:5300:60:6b0::c05f:543]:2468
allowedips = 10.192.122.4/32, 192.168.0.0/16
persistentkeepalive = off

[Peer]
PublicKey = ${PUB3}
Endpoint = test.wireguard.com:18981
AllowedIPs = 10.10.10.230/32
`;

/** What parseConfig returns for FULL. */
export const FULL_PARSED: WgConfig = {
  interface: {
    privateKey: keyFromBase64(PRIV),
    addresses: ["10.192.122.1/24", "fd00:abcd::1/64", "10.10.0.1/32"],
    listenPort: 51820,
    mtu: 1420,
    dns: ["1.1.1.1", "2606:4700:4700::1111", "corp.example.com"],
  },
  peers: [
    {
      publicKey: keyFromBase64(PUB1),
      presharedKey: keyFromBase64(PSK),
      endpoint: "192.95.5.67:1234",
      allowedIps: ["10.192.122.3/32", "10.192.124.0/24", "fd00:abcd::3/128"],
      persistentKeepalive: 25,
    },
    {
      publicKey: keyFromBase64(PUB2),
      endpoint: "[2607:5300:60:6b0::c05f:543]:2468",
      allowedIps: ["10.192.122.4/32", "192.168.0.0/16"],
      persistentKeepalive: 0,
    },
    {
      publicKey: keyFromBase64(PUB3),
      endpoint: "test.wireguard.com:18981",
      allowedIps: ["10.10.10.230/32"],
    },
  ],
  warnings: [
    "line 9: PostUp is a wg-quick setting with no effect here; ignored",
    "line 10: SaveConfig is a wg-quick setting with no effect here; ignored",
  ],
};
