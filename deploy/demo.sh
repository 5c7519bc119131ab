#!/usr/bin/env bash
# `make run`: the gateway on real files and real connections.
# 1. generates a synthetic population in all four departments' formats (tools/popgen.c),
#    validates and normalises every file, shows how a bad document is reported, and evaluates the
#    population against Tianjin's catalogue;
# 2. starts the daemon with development certificates (certs/dev-pki.sh), webhook receivers for
#    civil affairs, health and the disability federation and a ZeroMQ consumer for human
#    resources and social security, pushes the population over HTTPS and ZeroMQ, and then keeps a
#    demo feeder pushing new households every few seconds, printing what each department's
#    receiver got (records and eligibility flags) — until Ctrl-C, or MSGW_DEMO_ROUNDS rounds.
set -euo pipefail
build=${1:-build}
msgw=$build/gateway/cli/msgw
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
  awk '/^  (NEW|LOST|CHANGED)/ && n++ < 15' "$out/eval.txt" # awk reads it all: no SIGPIPE under pipefail
  echo "... $(grep -cE '^  (NEW|LOST|CHANGED)' "$out/eval.txt") transitions in all, explained in $out/eval.txt"
fi

step "The gateway daemon: departments push over HTTPS (mutual TLS) and ZeroMQ (CURVE); flags flow to their receivers"
pki=$out/pki
zmq_push=$build/tests/zmq_push
zmq_consumer=$build/tests/zmq_consumer
zmq_sub=$build/tests/zmq_sub
if ! MSGW_CURVE_KEYGEN=$build/tools/msgw-curve-keygen certs/dev-pki.sh "$pki" 12 >/dev/null 2>&1; then
  echo "(no development PKI: skipping the daemon demo)"
  exit 0
fi
use_zmq=0
[[ -x $zmq_push && -x $zmq_consumer && -f $pki/gateway.curve ]] && use_zmq=1
pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap stop_all EXIT
trap 'echo; echo "stopping"; exit 0' INT TERM
webhooks="mca health cdpf"
((use_zmq)) || webhooks="mca hrss health cdpf"
for dept in $webhooks; do
  # cdpf's receiver is down for its first 8 seconds: its first messages become dead letters,
  # for the administrator to replay from the dashboard once it is back
  status=200
  [[ $dept == cdpf ]] && status=503:8s
  python3 tests/cli/webhook_receiver.py "$pki/gateway.crt" "$pki/gateway.key" "$pki/ca.crt" "$status" \
    "$out/receiver-$dept.jsonl" "$out/receiver-$dept.port" &
  pids+=($!)
done
for dept in $webhooks; do
  for _ in $(seq 50); do [[ -s $out/receiver-$dept.port ]] && break; sleep 0.1; done
done
python3 - "$out" "$pki" "$use_zmq" <<'PY'
import json, sys
out, pki, use_zmq = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
pub = lambda d: [l.split("=", 1)[1].strip() for l in open("%s/%s.curve" % (pki, d)) if l.startswith("public=")][0]
def deliver(d):
    if use_zmq and d == "hrss":
        return {"zmq": {}}
    return {"webhook": {"url": "https://localhost:%s/inbox" % open("%s/receiver-%s.port" % (out, d)).read()}}
def dept(d, push, subs):
    o = {"id": d, "certificate": {"organization": "12", "unit": d}, "push": push, "subscriptions": subs,
         "eligibility": True, "deliver": deliver(d)}
    if use_zmq:
        o["curve_public"] = pub(d)
    return o
cfg = {"region": "12", "catalogue": "tianjin", "data_dir": out + "/data",
       "tls": {"ca": pki + "/ca.crt", "cert": pki + "/gateway.crt", "key": pki + "/gateway.key"},
       "https": {"listen": "127.0.0.1:0"}, "admin": {"listen": "127.0.0.1:0"},
       "delivery": {"max_attempts": 3, "backoff_initial_ms": 200, "backoff_max_ms": 2000},
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
if use_zmq:
    cfg["zmq"] = {"listen": "tcp://127.0.0.1:*", "deliver_listen": "tcp://127.0.0.1:*",
                  "feed_listen": "tcp://127.0.0.1:*", "curve_secret_file": pki + "/gateway.curve"}
    cfg["admin"]["curve_public"] = [pub("admin")]  # the feed admits administrators' keys only
json.dump(cfg, open(out + "/msgw-demo.json", "w"), ensure_ascii=False, indent=1)
PY
rm -rf "$out/data"
"$msgw" serve --config "$out/msgw-demo.json" --port-file "$out/port" 2>"$out/msgw.log" &
pids+=($!)
for _ in $(seq 100); do [[ -s $out/port ]] && break; sleep 0.1; done
port=$(cat "$out/port")
endpoint() { cat "$out/port.$1" 2>/dev/null; } # zmq (ingress), zdeliver, feed: written by --port-file
if ((use_zmq)); then
  for _ in $(seq 50); do [[ -s $out/port.feed ]] && break; sleep 0.1; done
  "$zmq_consumer" "$(endpoint zdeliver)" "$pki/gateway.curve" "$pki/hrss.curve" --timeout 86400 \
    >"$out/receiver-hrss.txt" 2>"$out/receiver-hrss.log" &
  pids+=($!)
  if [[ -x $zmq_sub ]]; then
    "$zmq_sub" "$(endpoint feed)" "$pki/gateway.curve" "$pki/admin.curve" >"$out/feed.jsonl" 2>/dev/null &
    pids+=($!)
  fi
fi
echo "gateway:   https://localhost:$port  (log $out/msgw.log, store $out/data/msgw.db)"
((use_zmq)) && echo "ZeroMQ:    ingress $(endpoint zmq), delivery $(endpoint zdeliver), live feed $(endpoint feed) -> $out/feed.jsonl"
echo "receivers: $out/receiver-{mca,health,cdpf}.jsonl (webhooks), $out/receiver-hrss.* ($( ((use_zmq)) && echo ZeroMQ consumer || echo webhook))"
for _ in $(seq 50); do [[ -s $out/port.admin ]] && break; sleep 0.1; done
admin_url=https://localhost:$(cat "$out/port.admin" 2>/dev/null)
# the administrator's certificate for a browser (development PKI; the password is not a secret)
[[ -f $pki/admin.p12 ]] || openssl pkcs12 -export -in "$pki/admin.crt" -inkey "$pki/admin.key" -certfile "$pki/ca.crt" \
  -name "msgw admin (development)" -out "$pki/admin.p12" -passout pass:msgw 2>/dev/null
as_admin="--url $admin_url --cert $pki/admin.crt --key $pki/admin.key --ca $pki/ca.crt"
echo "dashboard: $admin_url/  (the live dashboard: flows, queues, dead letters with replay, transitions, search)"
echo "           in a browser: import $pki/admin.p12 (password msgw) as your certificate and trust"
echo "           $pki/ca.crt as an authority (or accept the warning for this development CA)"
echo "admin:     $msgw admin $as_admin status"
echo "           ... deadletters list | deadletters replay --all | reevaluate [--service CODE] | audit verify"
echo "trace:     $msgw trace --store sqlite:$out/data/msgw.db MESSAGE_ID"
echo "audit log: $msgw audit verify --dir $out/data/audit --cert $pki/gateway.crt"

push() { # DEPT MEDIA_TYPE FILE: prints a one-line outcome
  [[ -f $3 ]] || return 0
  printf '  %-7s %-34s ' "$1" "$(basename "$3")"
  if ((use_zmq)) && [[ $1 == hrss ]]; then
    "$zmq_push" "$(endpoint zmq)" "$pki/gateway.curve" "$pki/hrss.curve" "$2" "$3" >"$out/answer.json"
    printf 'zmq '
  else
    printf 'https '
    curl -s -o "$out/answer.json" --cacert "$pki/ca.crt" --cert "$pki/$1.crt" \
      --key "$pki/$1.key" -H "Content-Type: $2" --data-binary "@$3" "https://localhost:$port/v1/records"
  fi
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d.get("records",[]); print("%s: %d stored, %d rejected, %d transitions, %d messages" % (d.get("status"), sum(x["outcome"]=="stored" for x in r), sum(x["outcome"]=="rejected" for x in r), d.get("transitions",0), d.get("messages",0)))' "$out/answer.json" 2>/dev/null || echo "(no answer)"
}
push_population() { # DIR
  for f in "$1"/cdpf-events*.xml; do push cdpf application/vnd.msgw.cdpf.certificate+xml "$f"; done
  for f in "$1"/mca-roster*.xml; do push mca application/vnd.msgw.mca.roster+xml "$f"; done
  for f in "$1"/hrss*.json; do push hrss application/vnd.msgw.hrss+json "$f"; done
  for f in "$1"/health-bundle*.json; do push health application/fhir+json "$f"; done
}
delivered() { # one line per department: what its receiver got
  for dept in mca hrss health cdpf; do
    if [[ $dept == hrss ]] && ((use_zmq)); then
      awk '{c[$3]++} END {s=""; for (k in c) s=s (s?", ":"") c[k] " " k; printf "  %-7s %s (ZeroMQ, acknowledged)\n", "hrss", s ? s : "nothing yet"}' "$out/receiver-hrss.txt"
    else
      python3 -c 'import json,sys,collections; c=collections.Counter(json.loads(l)["kind"] for l in open(sys.argv[1])); print("  %-7s %s" % (sys.argv[2], ", ".join("%d %s" % (n, k) for k, n in sorted(c.items())) or "nothing yet"))' \
        "$out/receiver-$dept.jsonl" "$dept" 2>/dev/null || printf '  %-7s %s\n' "$dept" "nothing yet"
    fi
  done
}

echo "pushing the 40 households generated above:"
push_population "$out"
sleep 2
echo "delivered to the departments' receivers:"
delivered
sleep 2
echo "dead letters (cdpf's receiver was down for its first seconds; replay them from the dashboard"
echo "or with: $msgw admin ... deadletters replay --all):"
"$msgw" admin $as_admin deadletters list 2>/dev/null | tail -1 | sed 's/^/  /'

# The demo feeder: a few new households every round, in every department's format, until Ctrl-C
# (MSGW_DEMO_ROUNDS=N stops after N rounds).
rounds=${MSGW_DEMO_ROUNDS:-0}
echo
echo "demo feeder: new households every few seconds$( ((rounds)) && echo " for $rounds rounds" || echo "; Ctrl-C stops") ..."
round=0
while ((rounds == 0 || round < rounds)); do
  round=$((round + 1))
  dir=$out/round-$round
  "$popgen" --seed $((3000 + round)) --households 4 --region tianjin --out "$dir" --format all >/dev/null 2>&1 || true
  echo "round $round:"
  push_population "$dir"
  sleep 2
  delivered
  rm -rf "$dir"
done
stop_all
trap - EXIT

step "Done"
echo "Generated files and their canonical form: $out/"
echo "Try: $msgw --help"
