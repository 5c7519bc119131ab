#!/usr/bin/env bash
# `make run` end to end: deploy/demo.sh with the test build, one feeder round.  Every department's
# receiver must get eligibility flags: civil affairs, health and the disability federation over
# webhooks, human resources and social security over ZeroMQ (acknowledged), and the live feed must
# show them.  Health's come from people known by their hukou alone (their Patients carry no
# residence): 老年人健康管理 and the other residence-decided services are theirs where they live.
set -uo pipefail
msgw=${MSGW_BIN:?}
root=${MSGW_SOURCE_ROOT:?}
build=$(cd "$(dirname "$msgw")/../.." && pwd)
pass=0 fail=0
ok() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }
out=$build/demo
cd "$root" || exit 1
MSGW_DEMO_ROUNDS=1 ./deploy/demo.sh "$build" >"$build/demo.log" 2>&1
ok test $? -eq 0
flags() { grep -c '"kind": "eligibility"' "$out/receiver-$1.jsonl" 2>/dev/null || echo 0; }
ok test "$(flags mca)" -gt 0
ok test "$(flags cdpf)" -gt 0
ok test "$(flags health)" -gt 0
ok test "$(awk '$3 == "eligibility"' "$out/receiver-hrss.txt" | wc -l)" -gt 0
ok grep -q '^transition ' "$out/feed.jsonl"
ok grep -q 'round 1:' "$build/demo.log"
[[ $fail -eq 0 ]] || tail -n 40 "$build/demo.log"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
