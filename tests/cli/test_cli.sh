#!/usr/bin/env bash
# The msgw command as a user runs it: exit codes, help, error lines, stdin, normalize output.
# Runs under meson test with MSGW_BIN and MSGW_SOURCE_ROOT set.
set -uo pipefail
msgw=${MSGW_BIN:?}
root=${MSGW_SOURCE_ROOT:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

check() { # check NAME EXPECTED_STATUS COMMAND... ; output in $tmp/out, $tmp/err
  local name=$1 want=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [[ $got == "$want" ]]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL $name: exit $got, want $want"; head -20 "$tmp/out" "$tmp/err"; fi
}
contains() { # contains NAME FILE TEXT
  if grep -qF -- "$3" "$2"; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL $1: '$3' not in $2:"; head -20 "$2"; fi
}

check help 0 "$msgw" --help
contains help-lists-validate "$tmp/out" "validate"
check no-args 2 "$msgw"
check cmd-help 0 "$msgw" validate --help
contains cmd-help-text "$tmp/out" "--from DEPARTMENT"
check normalize-help 0 "$msgw" normalize --help
check unknown-command 2 "$msgw" frobnicate
check unknown-department 2 "$msgw" validate --from nosuch "$root/tests/data/canonical/roster.json"
contains unknown-department-msg "$tmp/err" "unknown department 'nosuch'"
check missing-from 2 "$msgw" validate "$root/tests/data/canonical/roster.json"
check missing-file 2 "$msgw" validate --from canonical "$tmp/does-not-exist.json"
check wrong-media-type 2 "$msgw" validate --from canonical --media-type text/csv "$root/tests/data/canonical/roster.json"

check valid 0 "$msgw" validate --from canonical "$root/tests/data/canonical/roster.json"
contains valid-ok "$tmp/out" "record 1 (/0): ok"
check stdin 0 "$msgw" validate --from msgw - <"$root/tests/data/canonical/roster.json"

# a bad check character: the line names the location, the field and the rule
sed 's/120101195603070027/120101195603070023/' "$root/tests/data/canonical/roster.json" >"$tmp/bad.json"
check invalid 1 "$msgw" validate --from canonical "$tmp/bad.json"
contains invalid-line "$tmp/out" "/0/persons/0/id_number: id_number: check character should be 7, found 3 [gb11643.check_character]"
contains invalid-summary "$tmp/out" "1 record: 0 ok, 1 rejected"

check normalize 0 "$msgw" normalize --from canonical "$root/tests/data/canonical/roster.json"
if python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); assert r["message_id"]=="mca:TJ-HP-2024-000123", r; assert r["facts"][0]["attributes"]["benefit_monthly_fen"]==101000' "$tmp/out"; then
  pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL normalize-output"; fi
check normalize-invalid 1 "$msgw" normalize --from canonical "$tmp/bad.json"
contains normalize-errors-on-stderr "$tmp/err" "gb11643.check_character"
[[ ! -s $tmp/out ]] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: rejected record printed"; }

# the department adapters through the command line, on their own sample files
for pair in mca:tests/data/mca/roster-valid.xml hrss:tests/data/hrss/batch-valid.json \
            cdpf:tests/data/cdpf/certificate-events.xml cdpf:tests/data/cdpf/roster-202610.csv \
            health:tests/data/health/examples/condition-example.json; do
  d=${pair%%:*} f=$root/${pair#*:}
  [[ -f $f ]] || continue
  if [[ $d == health ]]; then want=1; else want=0; fi # the HL7 example patient has no resident ID
  check "sample-$d-$(basename "$f")" $want "$msgw" validate --from "$d" "$f"
done

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
