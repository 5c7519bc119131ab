#!/usr/bin/env bash
# make test: every meson test (cmocka units, CLI, scenarios, catalogue and schema checks), then
# each fuzz harness for a few seconds over its seed corpus, then one closing line for CI:
# "N passed, M failed".
set -uo pipefail
build=$1
fuzz_seconds=${2:-5}
meson test -C "$build" --print-errorlogs --num-processes 2
meson_rc=$?
log=$build/meson-logs/testlog.json
read -r ok bad < <(python3 - "$log" <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL", "SKIP"): ok += 1
    else: bad += 1
print(ok, bad)
PY
)
"$(dirname "$0")/fuzz/run.sh" "$build" "$fuzz_seconds" | tee "$build/fuzz-summary.txt"
fuzz_rc=${PIPESTATUS[0]}
fuzz_ok=$(grep -c ' ok (' "$build/fuzz-summary.txt")
fuzz_bad=$(grep -c 'FAILED' "$build/fuzz-summary.txt")
echo "$((ok + fuzz_ok)) passed, $((bad + fuzz_bad)) failed"
[[ $meson_rc -eq 0 && $fuzz_rc -eq 0 ]]
