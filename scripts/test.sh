#!/bin/sh
# The README's second command (and CI's, through .ci/run): install what the
# tests need, build moat four ways — Release (g++), ASan+UBSan, libFuzzer
# (clang), Release with clang — and run the whole suite with CTest (which
# also builds the .deb and installs it into a throw-away root). Networking tests create their own
# throw-away namespaces (docs/TESTING.md); nothing touches the host's network.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh --test
jobs="$(nproc)"

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMOAT_SANITIZE=ON -DMOAT_TESTS=ON -DMOAT_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs" --target unit_tests >/dev/null
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOAT_FUZZ=ON -DMOAT_WERROR=ON >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzz_config fuzz_pipe fuzz_dns fuzz_printable fuzz_ovpn >/dev/null
# clang (Debian's 14) builds moat and the unit tests too; the suite runs them.
CC=clang CXX=clang++ cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DMOAT_TESTS=ON -DMOAT_WERROR=ON >/dev/null
cmake --build build-clang -j"$jobs" --target moat unit_tests >/dev/null
# The main build is a Release build (what users and packagers build); the
# suite also installs it into a staging dir (install_tree) and builds, lints
# and installs the .deb in a throw-away root (deb_package).
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMOAT_TESTS=ON -DMOAT_WERROR=ON -DMOAT_DEB_TEST=ON \
  -DMOAT_ASAN_BUILD_DIR="$PWD/build-asan" -DMOAT_FUZZ_BUILD_DIR="$PWD/build-fuzz" \
  -DMOAT_CLANG_BUILD_DIR="$PWD/build-clang" >/dev/null
cmake --build build -j"$jobs" >/dev/null

cd build
ctest --output-on-failure -j"$jobs" --timeout 300 "$@"
