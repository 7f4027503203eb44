#!/usr/bin/env bash
# slapledger set-up: installs every dependency from Debian 12 packages, configures and builds.
#   ./setup.sh          install dependencies (idempotent) and build into build/
#   ./setup.sh run      ... then run the main job: a master on its embedded RocksDB ledger plus a
#                       local node running two memcached instances, in the foreground until Ctrl-C
#   ./setup.sh demo     ... then the ledger demo (workload, verify, replay)
#   ./setup.sh test     ... then run the whole test suite with CTest
# Runs as root on a fresh Debian 12 machine (uses sudo when not root and sudo exists).
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  librocksdb-dev libcapnp-dev capnproto libboost1.81-dev libssl-dev
  libsimdjson-dev libspdlog-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
  libpugixml-dev libjemalloc-dev
  supervisor patch memcached python3 procps
  netcat-openbsd  # the quick start's try-it line (printf version | nc)
  iproute2 passwd  # the root tests: ip netns (slapnode itself talks netlink), useradd/userdel
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

# The main job: a master (slapmaster, embedded RocksDB ledger under var/master), a person and a
# computer made with slapctl, the node daemon (slapnode run) with a few partitions, the memcached
# example supplied and two instances requested; prints their connection parameters and keeps
# running until Ctrl-C, then stops the node, supervisord and the master.
run_local_cloud() {
  local var="$PWD/var" bin="$PWD/build/bin"
  local master_dir="$var/master" node_dir="$var/node" people="$var/people"
  local partitions="${SLAP_PARTITIONS:-4}" range="${SLAP_IPV4_RANGE:-127.77.0.0/24}"
  local master_pid="" node_pid=""
  stop_all() {
    trap - INT TERM EXIT
    echo; echo "run: stopping the node, supervisord and the master"
    if [ -n "$node_pid" ]; then kill -TERM "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; fi
    if [ -f "$node_dir/run/supervisord.pid" ]; then
      local sv; sv=$(cat "$node_dir/run/supervisord.pid")
      kill -TERM "$sv" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$sv" 2>/dev/null || break; sleep 0.1; done
    fi
    if [ -n "$master_pid" ]; then kill -TERM "$master_pid" 2>/dev/null || true; wait "$master_pid" 2>/dev/null || true; fi
    echo "run: stopped (state kept in var/; ./setup.sh run starts afresh)"
  }
  trap 'stop_all; exit 130' INT TERM
  trap 'stop_all' EXIT
  # A previous run's supervisord (if it was killed hard) would hold the addresses and ports.
  if [ -f "$node_dir/run/supervisord.pid" ]; then kill -TERM "$(cat "$node_dir/run/supervisord.pid")" 2>/dev/null || true; fi
  rm -rf "$master_dir" "$node_dir" "$people" "$var/master.port"
  mkdir -p "$node_dir/etc" "$people"

  "$bin/slapmaster" init --state-dir "$master_dir" >"$var/master.log" 2>&1
  "$bin/slapmaster" serve --state-dir "$master_dir" --listen 127.0.0.1:0 --port-file "$var/master.port" >>"$var/master.log" 2>&1 &
  master_pid=$!
  for _ in $(seq 300); do [ -s "$var/master.port" ] && break; kill -0 "$master_pid" 2>/dev/null || break; sleep 0.1; done
  [ -s "$var/master.port" ] || { echo "run: the master did not start; see var/master.log" >&2; exit 1; }
  local url="https://127.0.0.1:$(head -n1 "$var/master.port")"
  echo "run: master at $url (state in var/master, log var/master.log)"

  local admin=(--master "$url" --cert "$master_dir/admin.crt" --key "$master_dir/admin.key" --ca "$master_dir/ca.crt")
  local person; person=$("$bin/slapctl" person add Alice --out "$people" "${admin[@]}")
  local as_person=(--master "$url" --cert "$people/$person.crt" --key "$people/$person.key" --ca "$master_dir/ca.crt")
  local computer; computer=$("$bin/slapctl" computer register local-node --out "$node_dir/etc" "${as_person[@]}")
  echo "run: person $person owns computer $computer"

  cat >"$node_dir/etc/node.conf" <<CONF
[slapnode]
master_url = $url
computer_guid = $computer
cert = $node_dir/etc/$computer.crt
key = $node_dir/etc/$computer.key
ca = $master_dir/ca.crt
instance_root = $node_dir/srv
software_root = $node_dir/opt
run_dir = $node_dir/run
partition_count = $partitions
ipv4_range = $range
privileged = no
software_interval = 10
instance_interval = 10
report_interval = 300
CONF
  "$bin/slapnode" run -c "$node_dir/etc/node.conf" >"$node_dir/slapnode.log" 2>&1 &
  node_pid=$!
  echo "run: node daemon pid $node_pid with $partitions partitions in var/node/srv (log var/node/slapnode.log)"
  for _ in $(seq 300); do
    "$bin/slapctl" computer show "$computer" --json "${as_person[@]}" 2>/dev/null | grep -q '"slappart0"' && break
    sleep 0.1
  done

  local release="file://$PWD/examples/memcached/software.cfg"
  "$bin/slapctl" supply "$release" --computer "$computer" "${as_person[@]}" >/dev/null
  local titles=(memcached-1 memcached-2) n=0
  for t in "${titles[@]}"; do
    n=$((n + 1))
    local port; port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$bin/slapctl" request "$t" "$release" --param "port=$port" --sla "computer_guid=$computer" "${as_person[@]}" >/dev/null
  done
  echo "run: supplied $release and requested ${titles[*]}; waiting for their connection parameters"
  local deadline=$((SECONDS + ${SLAP_RUN_TIMEOUT:-180}))
  for t in "${titles[@]}"; do
    until "$bin/slapctl" instance show "$t" "${as_person[@]}" 2>/dev/null | grep -q '^connection_parameters url'; do
      if [ $SECONDS -ge $deadline ] || ! kill -0 "$node_pid" 2>/dev/null; then
        echo "run: $t has no connection parameters yet; see var/node/slapnode.log" >&2; exit 1
      fi
      sleep 0.5
    done
    echo; "$bin/slapctl" instance show "$t" "${as_person[@]}"
  done
  echo
  echo "run: the cloud is up. Try:  printf 'version\r\n' | nc -q1 <host> <port>"
  echo "     build/bin/slapctl instance list ${as_person[*]}"
  echo "run: press Ctrl-C to stop the node, supervisord and the master."
  wait "$node_pid" || true
  node_pid=""
  echo "run: the node daemon exited; see var/node/slapnode.log" >&2
  exit 1
}

install_packages
build

case "${1:-}" in
  "") ;;
  run) run_local_cloud ;;
  demo)
    state="${SLAP_STATE_DIR:-var/demo}"
    rm -rf "$state"; mkdir -p "$state"
    ./build/bin/slapctl demo --db "$state/ledger" --movements "${DEMO_MOVEMENTS:-200000}"
    ;;
  test)
    ctest --test-dir build --output-on-failure -j "${JOBS:-2}" --timeout 600 "${@:2}"
    ;;
  *) echo "usage: $0 [run|demo|test [ctest args...]]" >&2; exit 2 ;;
esac
