#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time on a temporary copy of its seed corpus (the
# committed corpus is never modified), then prints the executions it ran.
#   tests/fuzz/run_fuzz.sh BINARY SEED_DIR SECONDS [libFuzzer flags...]
#   KEEP=dir tests/fuzz/run_fuzz.sh ...   keeps the grown corpus in dir (longer campaigns)
# Exit status: libFuzzer's (non-zero on a crash, leak, sanitizer report, timeout or OOM; the
# reproducer is written to the current directory as crash-*/leak-*/timeout-*/oom-*).
set -euo pipefail
bin=$1 seeds=$2 seconds=$3
shift 3
work=$(mktemp -d "${TMPDIR:-/tmp}/slapfuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
corpus=${KEEP:-$work/corpus}
mkdir -p "$corpus"
cp "$seeds"/* "$corpus"/
set +e
"$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix=./ "$@" "$corpus" 2>"$work/log"
rc=$?
set -e
grep -E '^(INFO: Seed|#[0-9]+ +(INITED|DONE))|^stat::|ERROR|SUMMARY|^==|runtime error' "$work/log" | head -80 || true
if [ $rc -ne 0 ]; then
  tail -n 60 "$work/log"
fi
echo "$(basename "$bin"): exit $rc, $(grep -o 'stat::number_of_executed_units: [0-9]*' "$work/log" | grep -o '[0-9]*$' || echo '?') executions in ${seconds}s"
exit $rc
