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

# catalogues and the eligibility engine through the command line
check catalogue-check 0 "$msgw" catalogue check tianjin langfang
contains catalogue-counts "$tmp/out" "94 services"
# every parameter the deployment must still supply: the services that need it, the line that leaves it open
contains catalogue-unvalued "$tmp/out" "langfang: parameter lf_dibao_standard_urban has no value; needed by LF-046, LF-072; source seeds/004_84effb67fc5105bc.txt line 1206"
# every service carries a decidability class; check counts them (docs/eligibility.md has the table)
contains catalogue-classes "$tmp/out" "langfang: decidability: "
contains catalogue-classes-tianjin "$tmp/out" "tianjin: decidability: "
check catalogue-unclassified 1 "$msgw" catalogue check "$root/tests/data/catalogue/test.json"
contains catalogue-unclassified-msg "$tmp/err" "service T-DIBAO has no decidability"
check catalogue-bad-decidability 1 "$msgw" catalogue check "$root/tests/data/catalogue/bad-decidability.json"
for msg in "service D-RULE-NOT-RULE: decidability: the service has a rule, so its class is rule, not universal" \
           "service D-RULE-NO-RULE: decidability: class rule, but the service has no rule" \
           "service D-NO-FACTS: decidability: class needs_facts names no facts" \
           "service D-EMPTY-FACTS: decidability: class needs_facts names no facts" \
           "service D-UNKNOWN-DEPT: decidability: facts[0] (school enrolment): held_by ministry_of_magic is not a department of departments.json" \
           "service D-UNKNOWN-CLASS: decidability: class must be rule, universal or needs_facts, found maybe" \
           "service D-PENDING: decidability: class must be rule, universal or needs_facts, found pending" \
           "service D-NO-NOTE: decidability: class universal needs a note saying why" \
           "service D-FACT-NO-HOLDER: decidability: facts[0] (school enrolment) needs \"held_by\""; do
  contains catalogue-bad-decidability-msg "$tmp/err" "$msg"
done
if grep -q "D-OK" "$tmp/err"; then fail=$((fail + 1)); echo "FAIL catalogue-bad-decidability: the well-formed entry was reported"; else pass=$((pass + 1)); fi
check catalogue-decidability 0 "$msgw" catalogue decidability langfang
contains catalogue-decidability-line "$tmp/out" "langfang LF-001 needs_facts 免费义务教育: school enrolment"
check catalogue-show-decidability 0 "$msgw" catalogue show --catalogue langfang LF-038
contains catalogue-show-decidability-line "$tmp/out" "decidability: needs_facts"
check catalogue-overlay 0 "$msgw" catalogue check --overlay "$root/schemas/catalogue/langfang-overlay.example.json" langfang
contains catalogue-overlay-supplies-all "$tmp/out" "(0 without a value"
if grep -q "has no value" "$tmp/out"; then fail=$((fail + 1)); echo "FAIL catalogue-overlay: a parameter still without value"; else pass=$((pass + 1)); fi
check catalogue-bad 1 "$msgw" catalogue check "$root/tests/data/catalogue/bad-rule.json"
contains catalogue-bad-msg "$tmp/err" "service T-BAD rule.eligible, column"
check catalogue-show 0 "$msgw" catalogue show --catalogue "$root/tests/data/catalogue/test.json" --date 2026-11-25 T-DIBAO
contains catalogue-show-param "$tmp/out" "parameter \$dibao_standard: 1010.00 yuan"
check catalogue-show-unknown 1 "$msgw" catalogue show T-NOPE
cat >"$tmp/ev.json" <<'JSON'
[{"kind":"disability_certificate","source":{"department":"cdpf","message_id":"EV-1"},
  "persons":[{"id_number":"120116195005050012","hukou_region":"120116","hukou_type":"1"}],
  "facts":[{"type":"disability","subject":"120116195005050012","valid_from":"2020-01-01",
    "attributes":{"disability_certificate_no":"12011619500505001242","disability_category":"4",
                  "disability_grade":"2","certificate_event":"issue"}}]}]
JSON
check eval 0 "$msgw" eval --catalogue "$root/tests/data/catalogue/test.json" --date 2026-11-25 --state "$tmp/state" "$tmp/ev.json"
contains eval-new "$tmp/out" "NEW T-CARE"
contains eval-explains "$tmp/out" "cdpf message cdpf:EV-1 changed disability_category from none to 4"
contains eval-masked "$tmp/out" "120116********0012"
check eval-state 0 "$msgw" eval --catalogue "$root/tests/data/catalogue/test.json" --date 2030-05-05 --state "$tmp/state" "$tmp/ev.json"
contains eval-state-calendar "$tmp/out" "NEW T-80"
contains eval-state-replay "$tmp/out" "0 transitions"
check eval-json 0 "$msgw" eval --json --catalogue "$root/tests/data/catalogue/test.json" --date 2026-11-25 "$tmp/ev.json"
if python3 -c 'import json,sys; t=[json.loads(l)["transition"] for l in open(sys.argv[1]) if l.startswith("{\"transition")]; assert t[0]["cause"]["message_id"]=="cdpf:EV-1" and t[0]["amount_fen"]==20000, t' "$tmp/out"; then
  pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL eval-json"; cat "$tmp/out"; fi

# eval reads each department's files as validate does: the disability federation's roster CSV by its
# extension, or by --media-type whatever the file is called (which alone names the department)
check eval-csv 0 "$msgw" eval --from cdpf --date 2026-11-25 "$root/tests/data/cdpf/roster-202610.csv"
contains eval-csv-new "$tmp/out" "NEW TJ-D7-12"
contains eval-csv-masked "$tmp/out" "120101********1233"
cp "$root/tests/data/cdpf/roster-202610.csv" "$tmp/roster.txt"
check eval-csv-by-type 0 "$msgw" eval --media-type text/csv --date 2026-11-25 "$tmp/roster.txt"
contains eval-csv-by-type-new "$tmp/out" "NEW TJ-D7-12"
check eval-csv-unnamed 1 "$msgw" eval --from cdpf --date 2026-11-25 "$tmp/roster.txt"
contains eval-csv-unnamed-xml "$tmp/err" "xml.not_well_formed"
check eval-type-mismatch 2 "$msgw" eval --from mca --media-type text/csv "$tmp/roster.txt"
contains eval-type-mismatch-says "$tmp/err" "media type 'text/csv' is not one of mca's"

# --schemas DIR: an installed copy (/usr/share/msgw's layout: the dictionary, code lists and
# catalogues beside generated/) is what validate and catalogue read, not the copies in the binary
share=$tmp/share
mkdir -p "$share/generated"
cp -r "$root/schemas/dictionary.json" "$root/schemas/codelists" "$root/schemas/catalogue" "$share/"
cp "${MSGW_GENERATED:?}"/*.xsd "$MSGW_GENERATED"/*.json "$share/generated/"
check schemas-validate 0 "$msgw" validate --schemas "$share" --from mca "$root/tests/data/mca/roster-valid.xml"
check schemas-catalogue 0 "$msgw" catalogue check --schemas "$share" tianjin langfang
contains schemas-catalogue-installed "$tmp/out" "$share/catalogue/tianjin.json: ok: catalogue tianjin (region 12), 94 services"
contains schemas-catalogue-installed-langfang "$tmp/out" "$share/catalogue/langfang.json: ok: catalogue langfang (region 1310), 81 services"
python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d["codes"]=[c for c in d["codes"] if c["code"]!="2"]; json.dump(d,open(p,"w"))' "$share/codelists/sex.json"
python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d["name"]="INSTALLED COPY"; json.dump(d,open(p,"w"))' "$share/catalogue/tianjin.json"
check schemas-codelist-read 1 "$msgw" validate --schemas "$share" --from mca "$root/tests/data/mca/roster-valid.xml"
contains schemas-codelist-says "$tmp/out" 'XB: "2" is not a code of sex'
check schemas-catalogue-read 0 "$msgw" catalogue show --schemas "$share" --catalogue tianjin TJ-D7-12
contains schemas-catalogue-read-says "$tmp/out" "(INSTALLED COPY, domain"
rm "$share/generated/mca-roster.xsd"
check schemas-missing 2 "$msgw" validate --schemas "$share" --from mca "$root/tests/data/mca/roster-valid.xml"
contains schemas-missing-says "$tmp/err" "$share/generated/mca-roster.xsd: cannot read the schema (No such file or directory); this build has it [schemas.read]"
check schemas-no-dictionary 2 "$msgw" catalogue check --schemas "$tmp/nowhere" tianjin
contains schemas-no-dictionary-says "$tmp/err" "$tmp/nowhere/dictionary.json: unable to open"

# serve --check: the configuration and its catalogue load as the daemon would load them, and
# nothing else is touched (deploy/msgw.json names certificates that are not here)
check serve-check 0 "$msgw" serve --check --config "$root/deploy/msgw.json"
contains serve-check-says "$tmp/out" "msgw.json: ok: region 12, catalogue tianjin (94 services), 4 departments, 0 peers, data in /var/lib/msgw"
echo '{"region": "12", "data_dir": "/x", "tls": {"ca": "a", "cert": "b", "key": "c"}, "departments": [{"id": "mca", "push": ["nonsense"]}]}' >"$tmp/bad-config.json"
check serve-check-bad 2 "$msgw" serve --check --config "$tmp/bad-config.json"
contains serve-check-bad-pointer "$tmp/err" "/departments/0"
contains serve-check-bad-says "$tmp/out" "bad-config.json: does not load"
check serve-check-missing 2 "$msgw" serve --check --config "$tmp/nowhere.json"

# msgw store: a new SQLite store migrated from version 0 to the highest known, then left as it is;
# a store recorded as newer than this msgw knows is refused, naming both versions
check store-usage 2 "$msgw" store frobnicate --store "sqlite:$tmp/s.db"
check store-migrate 0 "$msgw" store migrate --store "sqlite:$tmp/s.db"
contains store-migrate-before "$tmp/out" "schema version before: 0"
contains store-migrate-after "$tmp/out" "schema version after: 2"
check store-migrate-again 0 "$msgw" store migrate --store "sqlite:$tmp/s.db"
contains store-migrate-again-says "$tmp/out" "schema version before: 2"
check store-version 0 "$msgw" store version --store "sqlite:$tmp/s.db"
contains store-version-says "$tmp/out" "schema version: 2"
contains store-version-known "$tmp/out" "highest known: 2"
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("insert into schema_version values (9, 0)"); c.commit()' "$tmp/s.db"
check store-newer 2 "$msgw" store migrate --store "sqlite:$tmp/s.db"
contains store-newer-rule "$tmp/err" "store.schema_newer"
contains store-newer-versions "$tmp/err" "schema is version 9, newer than this msgw knows (version 2)"
check store-newer-trace 2 "$msgw" trace --store "sqlite:$tmp/s.db" some-id
contains store-newer-trace-rule "$tmp/err" "store.schema_newer"

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
