#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks use as real peers. Idempotent: does nothing
# when every package is already installed. Runs apt-get as root, or through sudo when started as
# another user (CI may run as a user with sudo for apt).
set -euo pipefail
pkgs=(
  redis-server        # dialog state store (integration tests, standalone --redis)
  sip-tester          # SIPp 3.6: UAC/UAS peers
  sipsak              # SIP over TLS probe; also a "malicious" scanner signature
  sipvicious          # svmap scanner, must be dropped silently
  stunnel4            # TLS in front of SIPp (no TLS in Debian's SIPp)
  baresip             # TLS + SRTP softphone for end-to-end audio
  kamailio            # signalling benchmark anchor; NG client for media-pod interop
  rtpengine-daemon    # media benchmark anchor
  python3-pylibsrtp   # libsrtp as an independent SRTP peer (/usr/bin/python3)
  libsrtp2-dev        # libsrtp for the native addon's interop reference engine
  libssl-dev          # OpenSSL libcrypto: the native addon's SRTP engine (ADR 0040)
  dnsmasq-base        # DNS SRV for end-to-end proxy-set tests
  etcd-server         # fallback etcd for the control-plane harness
  iproute2            # network namespaces as test hosts
  tshark              # wire captures in end-to-end debugging
  openssl             # test CAs and certificates
  jq
  build-essential     # node-gyp for the native media addon; gcc's libasan/libubsan (through libgcc-12-dev)
                      # for its ASan/UBSan fuzz test (media-pod/native/native-fuzz.int.test.ts)
  python3             # node-gyp
  python3-pip         # pip download of test tools (scripts/install-test-tools.sh)
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then echo "system packages: all present"; exit 0; fi
echo "system packages: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's postinst scripts may start daemons where an init system exists; tests start their own
# instances on free loopback ports, so stop nothing here and never rely on a system service.
