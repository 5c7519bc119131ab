#!/usr/bin/env bash
# `make run`: what the gateway does today, on real files.
# 1. generates a small synthetic population and writes the same people in all four departments'
#    formats (tools/popgen.c), 2. validates and normalises every file into canonical records,
# 3. shows how a bad document is reported.  The daemon arrives with the next issues.
set -euo pipefail
build=${1:-build}
msgw=$build/gateway/msgw
popgen=$build/tools/msgw-popgen
out=$build/demo
rm -rf "$out" && mkdir -p "$out"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Department formats this build understands"
"$msgw" adapters

if [[ -x $popgen ]]; then
  step "Generating 40 synthetic households (Beijing, Tianjin, Langfang) in every department's format"
  "$popgen" --seed 2026 --households 40 --region all --out "$out" --format all
  ls -l "$out"
  declare -A dept=([mca-roster.xml]=mca [hrss.json]=hrss [health-bundle.json]=health
                   [cdpf-events.xml]=cdpf [cdpf-roster.csv]=cdpf [canonical.json]=canonical)
  for f in mca-roster.xml hrss.json health-bundle.json cdpf-events.xml cdpf-roster.csv; do
    [[ -f $out/$f ]] || continue
    step "msgw validate --from ${dept[$f]} $f"
    "$msgw" validate --quiet --from "${dept[$f]}" "$out/$f"
    step "msgw normalize --from ${dept[$f]} $f  (first canonical record)"
    "$msgw" normalize --from "${dept[$f]}" "$out/$f" > "$out/$f.canonical.jsonl"
    head -n 1 "$out/$f.canonical.jsonl" | python3 -m json.tool --no-ensure-ascii | head -n 40 || true
    echo "... $(wc -l < "$out/$f.canonical.jsonl") canonical records in $out/$f.canonical.jsonl"
  done
fi

step "The departments' own sample documents"
for pair in mca:tests/data/mca/roster-valid.xml hrss:tests/data/hrss/batch-valid.json \
            health:tests/data/health/examples/bundle-small.json \
            cdpf:tests/data/cdpf/certificate-events.xml cdpf:tests/data/cdpf/roster-202610.csv; do
  d=${pair%%:*} f=${pair#*:}
  [[ -f $f ]] || continue
  echo "--- msgw validate --quiet --from $d $f"
  "$msgw" validate --quiet --from "$d" "$f" | tail -n 8 || true
done

step "A bad document: every problem located, with the field and the rule"
if [[ -f tests/data/mca/invalid-records.xml ]]; then
  "$msgw" validate --from mca tests/data/mca/invalid-records.xml || echo "(exit status $?: invalid records)"
fi

if [[ -f $out/canonical.json ]]; then
  step "Proactive discovery: the population evaluated against Tianjin's catalogue"
  "$msgw" eval --catalogue tianjin --date "$(date +%F)" --from canonical "$out/canonical.json" > "$out/eval.txt" || true
  grep -E '^  (NEW|LOST|CHANGED)' "$out/eval.txt" | head -n 15
  echo "... $(grep -cE '^  (NEW|LOST|CHANGED)' "$out/eval.txt") transitions in all, explained in $out/eval.txt"
fi

step "The gateway daemon: departments push over HTTPS with mutual TLS, flags flow to their receivers"
pki=$out/pki
if ! certs/dev-pki.sh "$pki" 12 >/dev/null 2>&1; then
  echo "(no development PKI: skipping the daemon demo)"
else
  pids=()
  stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
  trap stop_all EXIT
  for dept in mca hrss health cdpf; do
    python3 tests/cli/webhook_receiver.py "$pki/gateway.crt" "$pki/gateway.key" "$pki/ca.crt" 200 \
      "$out/receiver-$dept.jsonl" "$out/receiver-$dept.port" &
    pids+=($!)
  done
  for dept in mca hrss health cdpf; do
    for _ in $(seq 50); do [[ -s $out/receiver-$dept.port ]] && break; sleep 0.1; done
  done
  python3 - "$out" "$pki" <<'PY'
import json, sys
out, pki = sys.argv[1:3]
url = lambda d: "https://localhost:%s/inbox" % open("%s/receiver-%s.port" % (out, d)).read()
dept = lambda d, push, subs: {"id": d, "certificate": {"organization": "12", "unit": d}, "push": push,
                              "subscriptions": subs, "eligibility": True, "deliver": {"webhook": {"url": url(d)}}}
cfg = {"region": "12", "catalogue": "tianjin", "data_dir": out + "/data",
       "tls": {"ca": pki + "/ca.crt", "cert": pki + "/gateway.crt", "key": pki + "/gateway.key"},
       "https": {"listen": "127.0.0.1:0"},
       "departments": [
           dept("mca", ["household_assistance_roster", "care_assessment", "orphan_registration", "death"],
                [{"kinds": ["disability_certificate"], "from": ["cdpf"],
                  "fields": ["hukou_region", "disability_category", "disability_grade"]},
                 {"kinds": ["death"], "from": ["health"], "fields": ["death_date"]}]),
           dept("hrss", ["insurance_enrolment", "insurance_termination", "employment_registration",
                         "unemployment_registration", "retirement"],
                [{"kinds": ["death"], "from": ["health", "mca"], "fields": ["death_date"]}]),
           dept("health", ["person_registration", "condition", "observation", "pregnancy", "death"], []),
           dept("cdpf", ["disability_certificate"],
                [{"kinds": ["household_assistance_roster"], "from": ["mca"],
                  "fields": ["hukou_region", "assistance_category"]}])]}
json.dump(cfg, open(out + "/msgw-demo.json", "w"), ensure_ascii=False, indent=1)
PY
  rm -rf "$out/data"
  "$msgw" serve --config "$out/msgw-demo.json" --port-file "$out/port" 2>"$out/msgw.log" &
  pids+=($!)
  for _ in $(seq 50); do [[ -s $out/port ]] && break; sleep 0.1; done
  port=$(cat "$out/port")
  echo "gateway: https://localhost:$port (log: $out/msgw.log, store: $out/data/msgw.db)"
  push() { # DEPT MEDIA_TYPE FILE
    [[ -f $3 ]] || return 0
    printf '  %-7s %-44s ' "$1" "$(basename "$3")"
    curl -s -o "$out/answer.json" -w '%{http_code} ' --cacert "$pki/ca.crt" --cert "$pki/$1.crt" --key "$pki/$1.key" \
      -H "Content-Type: $2" --data-binary "@$3" "https://localhost:$port/v1/records"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d.get("records",[]); print("%d stored, %d rejected, %d transitions, %d messages" % (sum(x["outcome"]=="stored" for x in r), sum(x["outcome"]=="rejected" for x in r), d.get("transitions",0), d.get("messages",0)))' "$out/answer.json"
  }
  for f in "$out"/cdpf-events*.xml; do push cdpf application/vnd.msgw.cdpf.certificate+xml "$f"; done
  for f in "$out"/mca-roster*.xml; do push mca application/vnd.msgw.mca.roster+xml "$f"; done
  for f in "$out"/hrss*.json; do push hrss application/vnd.msgw.hrss+json "$f"; done
  for f in "$out"/health-bundle*.json; do push health application/fhir+json "$f"; done
  sleep 2
  echo "delivered to the departments' receivers (one JSON line per message in $out/receiver-*.jsonl):"
  for dept in mca hrss health cdpf; do
    python3 -c 'import json,sys,collections; c=collections.Counter(json.loads(l)["kind"] for l in open(sys.argv[1])); print("  %-7s %s" % (sys.argv[2], ", ".join("%d %s" % (n, k) for k, n in sorted(c.items())) or "nothing"))' \
      "$out/receiver-$dept.jsonl" "$dept" 2>/dev/null || echo "  $dept    nothing"
  done
  stop_all
  trap - EXIT
fi

step "Done"
echo "Generated files and their canonical form: $out/"
echo "Try: $msgw --help"
