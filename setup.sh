#!/usr/bin/env bash
# slapledger set-up: installs every dependency from Debian 12 packages, configures and builds.
#   ./setup.sh          install dependencies (idempotent) and build into build/
#   ./setup.sh run      ... then run the main job (the demo: ledger, workload, verify, replay)
#   ./setup.sh test     ... then run the whole test suite with CTest
# Runs as root on a fresh Debian 12 machine (uses sudo when not root and sudo exists).
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  librocksdb-dev libcapnp-dev capnproto libboost1.81-dev libssl-dev
  libsimdjson-dev libspdlog-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
  libpugixml-dev
  supervisor patch memcached
  nginx  # the baseline of bench/http_bench.sh
)

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local SUDO=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO=sudo
  echo "setup: installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build() {
  local type="${BUILD_TYPE:-Release}"
  if [ ! -f build/build.ninja ]; then
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$type" ${CMAKE_ARGS:-}
  fi
  cmake --build build -j "${JOBS:-2}"
}

install_packages
build

case "${1:-}" in
  "") ;;
  run)
    state="${SLAP_STATE_DIR:-var/demo}"
    rm -rf "$state"; mkdir -p "$state"
    ./build/bin/slapctl demo --db "$state/ledger" --movements "${DEMO_MOVEMENTS:-200000}"
    ;;
  test)
    ctest --test-dir build --output-on-failure -j "${JOBS:-2}" --timeout 600 "${@:2}"
    ;;
  *) echo "usage: $0 [run|test [ctest args...]]" >&2; exit 2 ;;
esac
