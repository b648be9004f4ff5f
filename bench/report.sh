#!/bin/bash
# Runs every benchmark side by side with its peers and writes docs/BENCHMARKS.md.
# Run by hand (not by CI), as root, on an otherwise quiet machine; builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh --bench
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target moat >/dev/null
mkdir -p bench/results
./bench/start.sh >/dev/null
./bench/timeline.sh bench/results/timeline.md >/dev/null
./bench/pipe.sh bench/results/pipe.md >/dev/null
./bench/network.sh bench/results/network.md >/dev/null
./bench/vpn.sh bench/results/vpn.md >/dev/null
./bench/check.sh bench/results/check.md >/dev/null
./bench/cni.sh bench/results/cni.md >/dev/null
RESTART_ONLY=1 REPS=20 ./bench/vpn.sh bench/results/tunnel-restart.md >/dev/null
./bench/memory.sh bench/results/memory.md >/dev/null
{
  echo "# Benchmarks"
  echo
  echo "Written by \`bench/report.sh\` on $(date -u +%Y-%m-%d). The machine is shared and noisy:"
  echo "compare the ratios within one run, not absolute numbers across runs."
  echo
  cat bench/results/start.md
  echo
  cat bench/results/timeline.md
  echo
  cat bench/results/pipe.md
  echo
  cat bench/results/network.md
  echo
  cat bench/results/vpn.md
  echo
  cat bench/results/check.md
  echo
  cat bench/results/cni.md
  echo
  cat bench/results/tunnel-restart.md
  echo
  cat bench/results/memory.md
} > docs/BENCHMARKS.md
echo "wrote docs/BENCHMARKS.md"
