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
    head -n 1 "$out/$f.canonical.jsonl" | python3 -m json.tool --no-ensure-ascii | head -n 40
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

step "Done"
echo "Generated files and their canonical form: $out/"
echo "Try: $msgw --help"
