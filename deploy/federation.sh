#!/usr/bin/env bash
# `make federation`: three gateways of the Beijing–Tianjin–Hebei region on loopback, peering over
# mutual TLS (docs/federation.md, issue 6 §5):
#   Beijing (11)  catalogue: Tianjin's, as a STAND-IN — Beijing has no catalogue of its own yet;
#   Tianjin (12)  catalogue: tianjin;
#   Hebei   (13)  catalogue: langfang, with the example overlay's (invented) local amounts.
# (The ingress and admin ports are chosen by the system; the peering ports are 19441..19443 when
# free, since the peers' configurations name them.)
# Each has its own CA (certs/dev-pki.sh DIR REGION), data directory, and webhook receivers for its
# civil affairs (mca) and disability federation (cdpf); each peers with the other two.
#
# The scripted scenario (round 1, tests/data/federation/): Tianjin's civil affairs records two
# 低保 households and Tianjin's disability federation two disability certificates.  张伟 has his
# hukou in 三河市 (131082, Langfang) and lives in Tianjin: Tianjin seals both records about him for
# Hebei, whose gateway flags LF-071 困难残疾人生活补贴 under Langfang's catalogue and notifies
# Langfang's civil affairs; 刘洪涛 (Tianjin hukou) is flagged in Tianjin (TJ-D7-12); Beijing hears
# of neither.  Then a feeder pushes new households to Tianjin every few seconds, until Ctrl-C
# (MSGW_DEMO_ROUNDS=N stops after N rounds; 1 = the scenario only).  What each region's receivers
# got is printed after every round.
#
#   deploy/federation.sh [BUILD]      (default build; everything goes to BUILD/federation/)
set -euo pipefail
build=$(cd "${1:-build}" && pwd) || { echo "no build directory ${1:-build}: build first (make federation)"; exit 1; }
cd "$(dirname "$0")/.."
msgw=$build/gateway/cli/msgw
out=$build/federation
data=tests/data/federation
rounds=${MSGW_DEMO_ROUNDS:-0}
GATEWAYS="beijing tianjin hebei"
declare -A REGION=([beijing]=11 [tianjin]=12 [hebei]=13)
declare -A NAME=([beijing]=Beijing [tianjin]=Tianjin [hebei]=Hebei)
declare -A PORT=([beijing]=19441 [tianjin]=19442 [hebei]=19443) # peering, if free
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

[[ -x $msgw ]] || { echo "no $msgw: build first (ninja -C $build)"; exit 1; }
rm -rf "$out" && mkdir -p "$out"
pids=()
stop_all() { # SIGTERM to what this script started, then wait for each
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all EXIT
trap 'echo; echo "stopping"; exit 0' INT TERM
wait_file() { for _ in $(seq 100); do [[ -s $1 ]] && return 0; sleep 0.1; done; echo "timed out waiting for $1"; return 1; }

step "Three regions, three CAs"
for g in $GATEWAYS; do
  MSGW_CURVE_KEYGEN=$build/tools/msgw-curve-keygen certs/dev-pki.sh "$out/pki-$g" "${REGION[$g]}" >/dev/null 2>&1
  # the administrator's certificate for a browser (development PKI; the password is not a secret)
  openssl pkcs12 -export -in "$out/pki-$g/admin.crt" -inkey "$out/pki-$g/admin.key" -certfile "$out/pki-$g/ca.crt" \
    -name "msgw admin ${NAME[$g]} (development)" -out "$out/pki-$g/admin.p12" -passout pass:msgw 2>/dev/null
  echo "  ${NAME[$g]} (${REGION[$g]}): CA $out/pki-$g/ca.crt, gateway certificate O=${REGION[$g]} OU=gateway"
done

# The peering ports go into the other gateways' configurations, so they are fixed before anything
# starts: 19441..19443, or a free port when one of them is taken.
for g in $GATEWAYS; do
  PORT[$g]=$(python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the gateway binds: TIME_WAIT is no obstacle
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' "${PORT[$g]}")
done

for g in $GATEWAYS; do
  for d in mca cdpf; do
    python3 tests/cli/webhook_receiver.py "$out/pki-$g/gateway.crt" "$out/pki-$g/gateway.key" "$out/pki-$g/ca.crt" 200 \
      "$out/receiver-$g-$d.jsonl" "$out/receiver-$g-$d.port" &
    pids+=($!)
  done
done
for g in $GATEWAYS; do for d in mca cdpf; do wait_file "$out/receiver-$g-$d.port"; done; done
touch "$out"/receiver-{beijing,tianjin,hebei}-{mca,cdpf}.jsonl

# Each gateway peers with the other two.  What may cross: the two kinds the departments push here,
# with only the fields Langfang's rules and the receiving side's validation need (data
# minimisation: no names, no amounts, no birth dates).
python3 - "$out" "${PORT[beijing]}" "${PORT[tianjin]}" "${PORT[hebei]}" "$PWD" <<'PY'
import json, sys
out, root = sys.argv[1], sys.argv[5]
peering = dict(zip(["beijing", "tianjin", "hebei"], sys.argv[2:5]))
region = {"beijing": "11", "tianjin": "12", "hebei": "13"}
catalogue = {"beijing": "tianjin", "tianjin": "tianjin", "hebei": "langfang"}  # Beijing: a stand-in
kinds = ["household_assistance_roster", "disability_certificate"]
fields = ["hukou_region", "residence_region", "family_relationship", "assistance_category",
          "disability_certificate_no", "disability_category", "disability_grade", "certificate_event"]
for g in region:
    pki = "%s/pki-%s" % (out, g)
    def dept(d, push):
        port = open("%s/receiver-%s-%s.port" % (out, g, d)).read()
        return {"id": d, "certificate": {"organization": region[g], "unit": d}, "push": push, "eligibility": True,
                "deliver": {"webhook": {"url": "https://localhost:%s/inbox" % port}}}
    cfg = {"region": region[g], "catalogue": catalogue[g], "data_dir": "%s/%s" % (out, g),
           "tls": {"ca": pki + "/ca.crt", "cert": pki + "/gateway.crt", "key": pki + "/gateway.key"},
           "https": {"listen": "127.0.0.1:0"}, "admin": {"listen": "127.0.0.1:0"},
           "peering": {"listen": "127.0.0.1:%s" % peering[g]},
           "delivery": {"max_attempts": 20, "backoff_initial_ms": 200, "backoff_max_ms": 5000},
           "departments": [dept("mca", ["household_assistance_roster"]), dept("cdpf", ["disability_certificate"])],
           "peers": [{"id": p, "name": p.capitalize(), "region": region[p], "url": "https://localhost:%s" % peering[p],
                      "ca": "%s/pki-%s/ca.crt" % (out, p), "kinds": kinds, "fields": fields}
                     for p in region if p != g]}
    if g == "hebei":  # Langfang leaves its amounts to the locality: the example overlay's invented figures
        cfg["catalogue_overlay"] = root + "/schemas/catalogue/langfang-overlay.example.json"
    json.dump(cfg, open("%s/%s.json" % (out, g), "w"), ensure_ascii=False, indent=1)
PY

step "Starting the gateways"
declare -A GWPID
for g in $GATEWAYS; do
  "$msgw" serve --config "$out/$g.json" --port-file "$out/$g.port" 2>"$out/$g.log" &
  GWPID[$g]=$!
  pids+=($!)
done
for g in $GATEWAYS; do
  for f in port port.admin port.peering; do
    wait_file "$out/$g.$f" || { echo "${NAME[$g]}'s gateway did not start: $out/$g.log"; tail -n 20 "$out/$g.log"; exit 1; }
  done
done
for g in $GATEWAYS; do
  P=$out/pki-$g
  note=""
  [[ $g == beijing ]] && note="  (catalogue: tianjin as a stand-in: Beijing has none of its own yet)"
  [[ $g == hebei ]] && note="  (catalogue: langfang + schemas/catalogue/langfang-overlay.example.json)"
  echo "${NAME[$g]} (${REGION[$g]})$note"
  echo "  ingress:   https://localhost:$(cat "$out/$g.port")/v1/records"
  echo "  peering:   https://localhost:$(cat "$out/$g.port.peering")/v1/envelopes"
  echo "  dashboard: https://localhost:$(cat "$out/$g.port.admin")/  (import $P/admin.p12, password msgw; trust $P/ca.crt)"
  echo "  admin:     $msgw admin --url https://localhost:$(cat "$out/$g.port.admin") --cert $P/admin.crt --key $P/admin.key --ca $P/ca.crt status"
  echo "  log $out/$g.log, store $out/$g/msgw.db, receivers $out/receiver-$g-{mca,cdpf}.jsonl"
done
echo "Each dashboard draws its two peer regions beside its departments; the envelopes run along those edges."

push() { # push GATEWAY DEPT FILE: prints a one-line outcome
  local P=$out/pki-$1
  printf '  %s %-4s %-28s ' "${NAME[$1]}" "$2" "$(basename "$3")"
  curl -s -o "$out/answer.json" --cacert "$P/ca.crt" --cert "$P/$2.crt" --key "$P/$2.key" \
    -H "Content-Type: application/vnd.msgw.canonical+json" --data-binary "@$3" \
    "https://localhost:$(cat "$out/$1.port")/v1/records" || true
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d.get("records",[]); print("%s: %d stored, %d rejected, %d transitions, %d messages" % (d.get("status"), sum(x["outcome"]=="stored" for x in r), sum(x["outcome"]=="rejected" for x in r), d.get("transitions",0), d.get("messages",0)))' "$out/answer.json" 2>/dev/null || echo "(no answer)"
}
settled() { # every outbox delivered (or given up on), at most 30 s
  for _ in $(seq 300); do
    python3 - "$out" beijing tianjin hebei <<'PY' && return 0
import sqlite3, sys
sys.exit(1 if any(sqlite3.connect("%s/%s/msgw.db" % (sys.argv[1], g)).execute(
    "select count(*) from outbox where state='pending'").fetchone()[0] for g in sys.argv[2:]) else 0)
PY
    sleep 0.1
  done
  echo "  (still delivering after 30 s)"
}
# What each region's receivers got since the last report, and the envelopes between the gateways:
# the receivers log event ids; the gateways' outboxes say what each one was.
report() {
  python3 - "$out" <<'PY'
import json, os, re, sqlite3, sys
out = sys.argv[1]
names = {"beijing": "Beijing", "tianjin": "Tianjin", "hebei": "Hebei"}
seen_file = out + "/reported.json"
seen = set(json.load(open(seen_file))) if os.path.exists(seen_file) else set()
mask = lambda p: p[:6] + "*" * 8 + p[14:] if len(p) == 18 else p
lines = []
for g, name in names.items():
    db = sqlite3.connect("%s/%s/msgw.db" % (out, g))
    for dept in ("mca", "cdpf"):
        for l in open("%s/receiver-%s-%s.jsonl" % (out, g, dept)):
            ev = json.loads(l)["event"]
            key = "%s/%s/%s" % (g, dept, ev)
            if key in seen:
                continue
            seen.add(key)
            row = db.execute("select kind, person, cause, body from outbox where recipient=? and event_id=?", (dept, ev)).fetchone()
            if not row:
                continue
            kind, person, cause, body = row
            body = body.decode() if isinstance(body, bytes) else body
            what = lambda tags: (re.search(r"<(?:%s)>([^<]*)<" % tags, body) or [None, "?"])[1]
            if kind == "eligibility":  # the notice in the department's own XML (mca: pinyin tags, cdpf: English)
                lines.append("  %s %s: %s %s %s for %s (cause: %s)" % (name, dept, what("BDLX|NoticeType"),
                             what("FWBM|Code"), what("FWMC|Name"), mask(person), cause or "calendar"))
            else:
                lines.append("  %s %s: %s for %s" % (name, dept, kind, mask(person)))
    for peer in (p for p in names if p != g):
        for mid, person in db.execute("select cause, person from outbox where recipient=? and state='delivered'"
                                      " order by id", (peer,)):
            key = "%s/envelope/%s/%s" % (g, peer, mid)
            if key not in seen:
                seen.add(key)
                lines.append("  %s -> %s: envelope %s about %s (delivered)" % (name, names[peer], mid, mask(person)))
json.dump(sorted(seen), open(seen_file, "w"))
print("\n".join(lines) if lines else "  (nothing new)")
PY
}

step "Round 1: the scripted scenario"
echo "Tianjin's civil affairs and disability federation push (tests/data/federation/):"
echo "  张伟   131082********0154: hukou 三河市 (Langfang, Hebei), lives in 南开区 (Tianjin); 低保, disability grade 3"
echo "  刘洪涛 120104********0334: hukou 南开区 (Tianjin); 低保, disability grade 3"
push tianjin mca "$data/mca-roster.json"
push tianjin cdpf "$data/cdpf-certificates.json"
settled
echo "what each region's gateway sent and its receivers got:"
report
echo "Hebei flags 张伟 under Langfang's catalogue (LF-071, decided by hukou) and tells Langfang's civil"
echo "affairs; Tianjin flags only its own resident; Beijing hears of neither (no Beijing persons)."

step "Evidence"
for g in $GATEWAYS; do
  echo "  ${NAME[$g]}: $(grep -ho '"kind":"peer"' "$out/$g"/audit/audit-*.jsonl 2>/dev/null | wc -l) envelope audit entries;" \
    "verify: $msgw audit verify --dir $out/$g/audit --cert $out/pki-$g/gateway.crt"
done
echo "  Hebei keeps each envelope as received, signature included: sqlite3 $out/hebei/msgw.db 'select peer, message_id, digest from envelopes'"

# The feeder: a Langfang, a Tianjin and a Beijing household (all living in Tianjin), each with a
# disability certificate, every few seconds, until Ctrl-C (MSGW_DEMO_ROUNDS=N: N rounds in all, the
# scenario included).  The Beijing person's records go to Beijing's gateway, which stores them and
# flags nothing: its stand-in catalogue is Tianjin's, whose hukou-decided rules ask for a Tianjin hukou.
feed() { # feed ROUND: writes $out/round-mca.json and $out/round-cdpf.json
  python3 - "$1" "$out" <<'PY'
import json, random, sys
k, out = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(k)
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
def idn(region, birth, seq):
    body = "%s%s%03d" % (region, birth.replace("-", ""), seq)
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, W)) % 11]
mca, cdpf = [], []
for n, (hukou, surname) in enumerate([(rnd.choice(["131002", "131003", "131022", "131024", "131081", "131082"]), "河北"),
                                      (rnd.choice(["120101", "120102", "120104", "120105", "120106"]), "天津"),
                                      (rnd.choice(["110101", "110105", "110106", "110108"]), "北京")]):
    # adults under 65: nobody reaches the age-decided services the stand-in catalogue would give Beijing
    birth = "19%02d-%02d-%02d" % (rnd.randint(65, 95), rnd.randint(1, 12), rnd.randint(1, 28))
    person = idn(hukou, birth, (k * 10 + n) % 1000)
    residence = rnd.choice(["120101", "120102", "120104", "120105", "120106"])
    grade, category = rnd.choice("1234"), rnd.choice("1234567")
    p = {"id_number": person, "name": "%s居民%d" % (surname, k), "sex": "1" if int(person[16]) % 2 else "2",
         "birth_date": birth, "hukou_region": hukou, "hukou_type": "1", "residence_region": residence}
    mca.append({"kind": "household_assistance_roster",
                "source": {"department": "mca", "message_id": "TJ-MZ-FEED-%d-%d" % (k, n)},
                "persons": [p],
                "household": {"household_id": "FEED-%d-%d" % (k, n), "region": hukou, "hukou_type": "1",
                              "members": [{"id_number": person, "family_relationship": "02"}]},
                "facts": [{"type": "assistance", "subject": person, "valid_from": "2026-01-01",
                           "attributes": {"assistance_category": "10", "benefit_monthly_fen": 50000}}]})
    cdpf.append({"kind": "disability_certificate",
                 "source": {"department": "cdpf", "message_id": "TJ-CL-FEED-%d-%d" % (k, n)},
                 "persons": [p],
                 "facts": [{"type": "disability", "subject": person, "valid_from": "2026-11-01", "valid_to": "2036-10-31",
                            "attributes": {"disability_certificate_no": person + category + grade,
                                           "disability_category": category, "disability_grade": grade,
                                           "certificate_event": "issue"}}]})
json.dump(mca, open(out + "/round-mca.json", "w"), ensure_ascii=False)
json.dump(cdpf, open(out + "/round-cdpf.json", "w"), ensure_ascii=False)
PY
}
round=1
if ((rounds != 1)); then
  echo
  echo "feeder: a Langfang, a Tianjin and a Beijing household (all living in Tianjin) pushed to Tianjin every"
  echo "few seconds$( ((rounds)) && echo " for $((rounds - 1)) more rounds" || echo "; Ctrl-C stops"). Beijing's gateway stores its resident's records and"
  echo "flags nothing: it runs Tianjin's catalogue as a stand-in, whose hukou-decided rules need a Tianjin hukou."
fi
while ((rounds == 0 || round < rounds)); do
  round=$((round + 1))
  sleep 3
  feed "$round"
  echo "round $round:"
  push tianjin mca "$out/round-mca.json"
  push tianjin cdpf "$out/round-cdpf.json"
  settled
  report
done
step "Stopping"
rc=0
for g in $GATEWAYS; do # each gateway drains and exits 0 on SIGTERM
  kill -TERM "${GWPID[$g]}"
  for _ in $(seq 300); do # at most 30 s
    [[ ! -e /proc/${GWPID[$g]} || $(awk '{print $3}' "/proc/${GWPID[$g]}/stat" 2>/dev/null) == Z ]] && break
    sleep 0.1
  done
  kill -0 "${GWPID[$g]}" 2>/dev/null && [[ $(awk '{print $3}' "/proc/${GWPID[$g]}/stat" 2>/dev/null) != Z ]] &&
    { echo "  ${NAME[$g]}'s gateway did not stop within 30 s: killed"; kill -KILL "${GWPID[$g]}"; }
  status=0
  wait "${GWPID[$g]}" || status=$?
  echo "  ${NAME[$g]}'s gateway exited $status"
  ((status == 0)) || rc=1
done
stop_all
trap - EXIT
step "Done"
echo "Everything is in $out/ (configurations, PKIs, logs, stores, receivers' logs)."
exit $rc
