#!/usr/bin/env bash
# Installs the Debian packages that Corridor's tests need (DESIGN.md §5). This is the one list:
# add a package here, with a comment saying which tests need it, and nowhere else.
# Idempotent: when every package is already installed it exits at once without touching apt.
set -euo pipefail

PACKAGES=(
  chromium        # real-browser tests (test/e2e), driven by playwright-core via /usr/bin/chromium
  wireguard-go    # stock userspace WireGuard peer inside a network namespace (test/interop)
  wireguard-tools # `wg` to configure that peer (keys, listen port, peers, allowed IPs)
  openssh-server  # `sshd` as a real SSH server for the SSH client tests (OpenSSH 9.2)
  openssh-client  # `ssh-keygen` for throwaway host/user keys; `ssh` as a benchmark anchor
  dropbear-bin    # `dropbear` and `dropbearkey`: a second, independent SSH server (2022.83)
  iproute2        # `ip netns`, `ip link` (veth), `ip addr` to build the namespaced test hosts
  iputils-ping    # the kernel's `ping`: the anchor of `corridor ping`'s RTT in test/bench/tcp.bench.ts
  build-essential # g++ and make for native npm modules built from source (node-pty: test/cli/ssh.test.ts)
  python3         # node-gyp; TCP senders and sinks inside the namespaces (test/bench/tcp.bench.ts), packet fixtures
  nftables        # `nft` inside a test's namespace: blocks direct UDP between agents (test/agent: relay-only peer, path switch)
  curl            # `curl --socks5-hostname` through an agent's SOCKS5 proxy, and transfers in the agent lab (test/agent/lab-*)
  coturn          # `turnutils_stunclient`: a STUN client we did not write, against `corridor relay --stun` (test/agent)
  postgresql      # initdb/pg_ctl for a throwaway cluster: the control store suite on PostgreSQL (test/control/store-postgres.test.ts)
  python3-aiohttp # an HTTP and WebSocket server we did not write, for the engine's HTTP/1.1 and WebSocket clients (test/http)
  jupyter-notebook # a real web app: its login cookies in the engine's jar (test/http/cookies-interop.test.ts), the private-URL fixtures (test/helpers/apps.ts)
  transmission-daemon # a real web app: Basic auth and the 409 X-Transmission-Session-Id retry through private URLs (test/helpers/apps.ts)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
  if [[ "$status" != "installed" ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"

if [[ "$(id -u)" -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n env DEBIAN_FRONTEND=noninteractive)
  if ! sudo -n true 2>/dev/null; then
    echo "install-deps: not root and sudo needs a password; as root run:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
else
  echo "install-deps: not root and no sudo; as root run:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# Installing openssh-server must not start a system sshd on port 22: the tests start their own.
# policy-rc.d answering 101 ("action forbidden") stops the maintainer scripts from starting
# services. Only put ours in place when there is none, and always remove it again.
POLICY=/usr/sbin/policy-rc.d
placed_policy=0
cleanup() {
  if [[ $placed_policy -eq 1 ]]; then
    "${SUDO[@]}" rm -f "$POLICY"
  fi
}
trap cleanup EXIT
if [[ ! -e "$POLICY" ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 0755 "$POLICY"
  placed_policy=1
fi

"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"

echo "install-deps: done"
