#!/usr/bin/env bash
# Runs every built fuzz harness for SECONDS each over its seed corpus.
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS
# New inputs go to a scratch corpus under BUILD_DIR (the seed corpus in git stays small);
# a crash leaves its input in BUILD_DIR/fuzz-artifacts/ and fails the run.
set -euo pipefail
build=$1
seconds=${2:-5}
src=$(cd "$(dirname "$0")" && pwd)
shopt -s nullglob
ran=0 failed=0
for exe in "$build"/tests/fuzz/fuzz_*; do
  [[ -x $exe && ! -d $exe ]] || continue
  name=$(basename "$exe")
  seeds=$src/corpus/${name#fuzz_}
  work=$build/fuzz-corpus/${name#fuzz_}
  art=$build/fuzz-artifacts/
  mkdir -p "$work" "$art"
  [[ -d $seeds ]] && cp -n "$seeds"/* "$work"/ 2>/dev/null || true
  echo "fuzz: $name for ${seconds}s"
  if ASAN_OPTIONS=detect_leaks=1 "$exe" -max_total_time="$seconds" -rss_limit_mb=2048 \
        -max_len=65536 -timeout=10 -artifact_prefix="$art" -print_final_stats=0 "$work" \
        > "$build/fuzz-$name.log" 2>&1; then
    echo "fuzz: $name ok ($(grep -c . "$build/fuzz-$name.log") log lines, $(ls "$work" | wc -l) corpus files)"
  else
    echo "fuzz: $name FAILED; log: $build/fuzz-$name.log"; tail -30 "$build/fuzz-$name.log"
    failed=$((failed + 1))
  fi
  ran=$((ran + 1))
done
echo "fuzz: $ran harnesses, $failed failed"
[[ $failed -eq 0 ]]
