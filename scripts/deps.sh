#!/bin/sh
# Installs everything moat needs to build (and, with --test, to run its test
# suite and benchmarks) from Debian 12's own packages. Idempotent. The suite
# also builds the .deb (debhelper, dpkg-dev, fakeroot) and lints it (lintian);
# debian/control's Build-Depends lists what that build needs.
set -eu
build="cmake g++ make pkg-config libtomlplusplus-dev nlohmann-json3-dev libcli11-dev pandoc
  libnl-3-dev libnl-route-3-dev libnl-nf-3-dev libnftables-dev libseccomp-dev libssl-dev"
# What the containers of the examples run, and the lab's tools (iproute2 and
# nftables only to set up and inspect the lab; moat itself uses netlink and
# libnftables in-process). cni_engine_test runs moat as the CNI plugin of a
# real engine: buildah with runc, on a busybox-static image built offline.
run="iproute2 netcat-openbsd procps"
# cni_chain_test chains moat with CNI's reference plugins
# (containernetworking-plugins: host-local, portmap, tuning, bandwidth,
# firewall); portmap and firewall drive the iptables binaries (Debian's
# default is iptables-nft), in a lab namespace only.
test="libgtest-dev clang libclang-rt-14-dev nftables bash curl tcpdump spiped openvpn
  wireguard-go wireguard-tools dnsmasq-base conntrack iperf3 psmisc iputils-ping python3
  miniupnpd-nftables natpmpc man-db groff-base zsh fish
  containernetworking-plugins iptables
  debhelper dpkg-dev fakeroot lintian ccache
  buildah runc busybox-static"
# bench/network.sh: CNI's reference plugins (in test=, with iptables for
# portmap and ipMasq) and its python3 driver.
# bench/vpn.sh: openssl for the lab's PKI (the rest is in test=).
# bench/timeline.sh: perf, for the syscall tracepoints.
bench="hyperfine bubblewrap systemd-container python3 openssl linux-perf"

pkgs="$build $run"
for arg in "$@"; do
  case "$arg" in
    --test) pkgs="$pkgs $test" ;;
    --bench) pkgs="$pkgs $test $bench" ;;
  esac
done
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  # The NAT-PMP lab runs miniupnpd in a lab namespace only. The binary
  # package (miniupnpd-nftables) has no maintainer scripts or init file;
  # Debian's `miniupnpd` wrapper, should anything pull it in, starts the
  # daemon from its postinst only when this is true (default false): say
  # so, so no daemon ever serves the machine's own network.
  if command -v debconf-set-selections >/dev/null; then
    echo "miniupnpd miniupnpd/start_daemon boolean false" | debconf-set-selections
  fi
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
