#!/usr/bin/env bash
# Three real gateways peering over mutual TLS (issue 6 §6, docs/federation.md): Beijing (11),
# Tianjin (12) and Hebei (13, Langfang's catalogue), each with its own CA, data directory and
# department receivers (civil affairs and the disability federation, webhooks).
#  1. routing: Tianjin's departments record a Langfang-hukou resident's 低保 and disability
#     certificate (tests/data/federation/); Tianjin seals both records for Hebei, which commits them,
#     flags LF-071 under Langfang's catalogue and notifies Hebei's civil affairs; the Tianjin-hukou
#     person of the same batches is flagged in Tianjin only; Beijing hears of neither; both ends
#     audit the envelopes and their dashboards show the cross-region edges;
#  2. store and forward: Hebei stopped, five Langfang records wait in Tianjin's outbox (retrying),
#     Hebei restarted, each arrives exactly once; the same envelope posted again is a 409, audited
#     "replayed", stored nothing;
#  3. an altered envelope is refused (403 envelope.signature, audited "rejected", nothing stored);
#  3b. envelopes travel in lists (one request, each answered on its own, in order); a list whose
#     count or shape is wrong is refused whole;
#  4. a gateway certificate of an untrusted "Tianjin" CA, and a department certificate of Hebei's own
#     CA, fail the TLS handshake at Hebei's peering port;
#  4b. people registered in Zhengzhou and Shanghai, whose regions have no peer, are accepted (202),
#     stored and evaluated in Tianjin, and forwarded nowhere; a Langfang one and one under a retired
#     Baoding code still go to Hebei;
#  5. every audit log verifies, every gateway exits 0 on SIGTERM with no sanitizer report;
#  6. the demo (deploy/federation.sh, make federation) runs its scripted scenario and says so.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
data=$root/tests/data/federation
started=$SECONDS

# wait_for SECONDS WHAT CMD...: CMD until it succeeds, at most SECONDS; says what it waited for when not
wait_for() {
	local limit=$1 what=$2 t0=$SECONDS
	shift 2
	while ! "$@"; do
		if ((SECONDS - t0 >= limit)); then
			echo "timed out after ${limit}s: $what"
			return 1
		fi
		sleep 0.1
	done
}

declare -A REGION=([beijing]=11 [tianjin]=12 [hebei]=13)
GATEWAYS="beijing tianjin hebei"
for g in $GATEWAYS; do "$root/certs/dev-pki.sh" "$tmp/pki-$g" "${REGION[$g]}" >/dev/null 2>&1; done
# a rogue "Tianjin": the same subjects (O=12, OU=gateway) from a CA nobody trusts
"$root/certs/dev-pki.sh" "$tmp/pki-rogue" 12 >/dev/null 2>&1

# the peering ports go into the peers' configurations, so they are chosen before anything starts
read -r -a ports < <(python3 -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
declare -A PEERING=([beijing]=${ports[0]} [tianjin]=${ports[1]} [hebei]=${ports[2]})

for g in $GATEWAYS; do
	for d in mca cdpf; do
		python3 "$root/tests/cli/webhook_receiver.py" "$tmp/pki-$g/gateway.crt" "$tmp/pki-$g/gateway.key" \
			"$tmp/pki-$g/ca.crt" 200 "$tmp/$g-$d.log" "$tmp/$g-$d.port" &
		pids+=($!)
	done
done
for g in $GATEWAYS; do for d in mca cdpf; do wait_file "$tmp/$g-$d.port" || echo "receiver $g $d did not start"; done; done
touch "$tmp"/{beijing,tianjin,hebei}-{mca,cdpf}.log

# Each gateway peers with the other two.  What crosses: the two kinds pushed here, with only the
# fields Langfang's rules and the receiving validation need (data minimisation: no names, no amounts).
python3 - "$tmp" "${PEERING[beijing]}" "${PEERING[tianjin]}" "${PEERING[hebei]}" "$root" <<'PY'
import json, sys
tmp, root = sys.argv[1], sys.argv[5]
peering = dict(zip(["beijing", "tianjin", "hebei"], sys.argv[2:5]))
region = {"beijing": "11", "tianjin": "12", "hebei": "13"}
# Beijing has no catalogue of its own yet: Tianjin's stands in for it
catalogue = {"beijing": "tianjin", "tianjin": "tianjin", "hebei": "langfang"}
kinds = ["household_assistance_roster", "disability_certificate"]
fields = ["hukou_region", "residence_region", "family_relationship", "assistance_category",
          "disability_certificate_no", "disability_category", "disability_grade", "certificate_event"]
for g in region:
    pki = "%s/pki-%s" % (tmp, g)
    dept = lambda d, push: {"id": d, "certificate": {"organization": region[g], "unit": d}, "push": push,
                            "eligibility": True,
                            "deliver": {"webhook": {"url": "https://localhost:%s/inbox" % open("%s/%s-%s.port" % (tmp, g, d)).read()}}}
    cfg = {"region": region[g], "catalogue": catalogue[g], "data_dir": "%s/%s" % (tmp, g),
           "tls": {"ca": pki + "/ca.crt", "cert": pki + "/gateway.crt", "key": pki + "/gateway.key"},
           "https": {"listen": "127.0.0.1:0"}, "admin": {"listen": "127.0.0.1:0"},
           "peering": {"listen": "127.0.0.1:%s" % peering[g]},
           "delivery": {"max_attempts": 1000, "backoff_initial_ms": 100, "backoff_max_ms": 500},
           "departments": [dept("mca", ["household_assistance_roster"]), dept("cdpf", ["disability_certificate"])],
           "peers": [{"id": p, "region": region[p], "url": "https://localhost:%s" % peering[p],
                      "ca": "%s/pki-%s/ca.crt" % (tmp, p), "kinds": kinds, "fields": fields}
                     for p in region if p != g]}
    if g == "hebei":  # Langfang leaves its amounts to the locality: the example overlay's (invented) figures
        cfg["catalogue_overlay"] = root + "/schemas/catalogue/langfang-overlay.example.json"
    json.dump(cfg, open("%s/%s.json" % (tmp, g), "w"), ensure_ascii=False, indent=1)
PY

declare -A PID
start() { # start NAME: the gateway in the background, its ports in $tmp/NAME.port*
	rm -f "$tmp/$1.port" "$tmp/$1.port."*
	"$msgw" serve --config "$tmp/$1.json" --port-file "$tmp/$1.port" 2>>"$tmp/$1.log" &
	PID[$1]=$!
	pids+=($!)
	wait_for 20 "gateway $1 listening" test -s "$tmp/$1.port" -a -s "$tmp/$1.port.admin" -a -s "$tmp/$1.port.peering"
}
exited() { [[ ! -e /proc/$1 || $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]]; }
stop() { # stop NAME: SIGTERM, and its exit status must be 0 (within 30 s)
	kill -TERM "${PID[$1]}"
	wait_for 30 "gateway $1 exiting on SIGTERM" exited "${PID[$1]}" || kill -KILL "${PID[$1]}"
	wait "${PID[$1]}"
	local rc=$?
	[[ $rc == 0 ]] || { echo "gateway $1 exited $rc"; tail -n 20 "$tmp/$1.log"; }
	[[ $rc == 0 ]]
}
for g in $GATEWAYS; do ok start "$g"; done
ok test "$(cat "$tmp/hebei.port.peering")" = "${PEERING[hebei]}"

sql() { # sql NAME QUERY: the first column of the first row
	python3 -c '
import sqlite3, sys
r = sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()
v = "" if r is None or r[0] is None else r[0]
print(v.decode() if isinstance(v, bytes) else v)' \
		"$tmp/$1/msgw.db" "$2"
}
sql_is() { [[ $(sql "$1" "$2") == "$3" ]]; }
push() { # push NAME DEPT FILE -> the HTTP status
	local P=$tmp/pki-$1
	curl -s -o "$tmp/pushed.json" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/$2.crt" --key "$P/$2.key" \
		-H "Content-Type: application/vnd.msgw.canonical+json" --data-binary "@$3" "https://localhost:$(cat "$tmp/$1.port")/v1/records"
}
audit_has() { # audit_has NAME PYTHON_CONDITION_ON_f (the entry's fields): some "peer" entry satisfies it
	python3 - "$tmp/$1/audit" "$2" <<'PY'
import glob, json, sys
entries = [json.loads(l) for p in sorted(glob.glob(sys.argv[1] + "/audit-*.jsonl")) for l in open(p)]
sys.exit(0 if any(e["kind"] == "peer" and eval(sys.argv[2], {"f": e["fields"]}) for e in entries) else 1)
PY
}

# ---- 1. routing by jurisdiction ------------------------------------------------------------------
LF=131082199007210154 TJ=120104197209150334
ok test "$(push tianjin mca "$data/mca-roster.json")" = 202
ok test "$(push tianjin cdpf "$data/cdpf-certificates.json")" = 202
# Tianjin seals the two records about the Langfang person for Hebei, and nothing for Beijing
ok wait_for 30 "Tianjin's two envelopes for Hebei delivered" \
	sql_is tianjin "select count(*) from outbox where recipient='hebei' and state='delivered'" 2
ok sql_is tianjin "select count(*) from outbox where recipient='hebei' and person<>'$LF'" 0
ok sql_is tianjin "select count(*) from outbox where recipient='beijing'" 0
# Hebei stores both (sender: the peer), keeps the envelopes, and flags LF-071 under Langfang's catalogue
ok sql_is hebei "select count(*) from records where sender='tianjin'" 2
ok sql_is hebei "select count(distinct message_id) from envelopes where peer='tianjin'" 2
# both sides keep the signed envelopes, and their digests agree (the same signed bytes)
ok sql_is tianjin "select count(*) from envelopes where direction='sent' and peer='hebei'" 2
ok test "$(sql tianjin "select group_concat(digest, ',') from (select digest from envelopes where direction='sent' order by digest)")" = \
	"$(sql hebei "select group_concat(digest, ',') from (select digest from envelopes where direction='received' order by digest)")"
ok wait_for 30 "Hebei's LF-071 notice delivered to its civil affairs" \
	sql_is hebei "select count(*) from outbox where recipient='mca' and kind='eligibility' and state='delivered' and person='$LF' and cast(body as text) like '%LF-071%'" 1
ok sql_is hebei "select kind || ' ' || service || ' ' || tier || ' ' || amount from transitions where person='$LF' and service='LF-071'" "new LF-071 living 10000"
# his other Langfang services (医疗救助 for a 低保 family ...) are decided by hukou too: he lives in
# Tianjin, so none decided where the person lives
residence_decided=$(python3 -c 'import json,sys; print(",".join("%r" % s["code"] for s in json.load(open(sys.argv[1]))["services"] if s.get("decided_by") == "residence"))' \
	"$root/schemas/catalogue/langfang.json")
ok sql_is hebei "select count(*) from transitions where person='$LF' and (kind<>'new' or service in ($residence_decided))" 0
ok sql_is hebei "select count(*) from transitions where person<>'$LF'" 0
# the notice is civil affairs' own XML, names the service, and arrived once with its event id (as
# did civil affairs' other notices)
ok python3 - "$tmp/hebei/msgw.db" "$tmp/hebei-mca.log" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
event, media, body = db.execute("select event_id, media_type, body from outbox where recipient='mca' and kind='eligibility' "
                                "and cast(body as text) like '%LF-071%'").fetchone()
body = body.decode() if isinstance(body, bytes) else body
events = sorted(e for (e,) in db.execute("select event_id from outbox where recipient='mca' and kind='eligibility'"))
got = sorted(x["event"] for x in map(json.loads, open(sys.argv[2])) if x["kind"] == "eligibility")
sys.exit(0 if media == "application/vnd.msgw.mca.notice+xml" and "LF-071" in body and "困难残疾人生活补贴" in body
         and event in got and got == events else 1)
PY
# Tianjin flags its own resident in Tianjin (TJ-D7-12 to civil affairs), and none of the
# hukou-decided services for the Langfang person: those are Hebei's
ok wait_for 30 "Tianjin's TJ-D7-12 notice delivered to its civil affairs" \
	sql_is tianjin "select count(*) from outbox where recipient='mca' and kind='eligibility' and state='delivered' and person='$TJ' and cast(body as text) like '%TJ-D7-12%'" 1
ok sql_is tianjin "select count(*) from transitions where person='$TJ' and service='TJ-D7-12' and kind='new'" 1
hukou_decided=$(python3 -c 'import json,sys; print(",".join("%r" % s["code"] for s in json.load(open(sys.argv[1]))["services"] if s.get("decided_by") == "hukou"))' \
	"$root/schemas/catalogue/tianjin.json")
ok sql_is tianjin "select count(*) from transitions where person='$LF' and service in ($hukou_decided)" 0
ok sql_is tianjin "select count(*) from outbox where recipient in ('mca', 'cdpf') and kind='eligibility' and person='$LF'" 0
# Beijing hears of neither: no envelope, no record, no notice
ok sql_is beijing "select count(*) from records" 0
ok sql_is beijing "select count(*) from transitions" 0
ok test ! -s "$tmp/beijing-mca.log" -a ! -s "$tmp/beijing-cdpf.log"
# both ends audit each envelope: the header, the digest and the signature
ok audit_has tianjin 'f["action"] == "sent" and f["peer"] == "hebei" and f["destination"] == "13" and len(f["digest"]) == 64 and f["signature"]'
ok audit_has hebei 'f["action"] == "received" and f["peer"] == "tianjin" and f["origin"] == "12" and f["hops"] == ["12"] and f["signature"]'
# the dashboards: the peers on the flow picture (hello), the envelopes on the cross-region edges (stats)
events() { # events NAME: the first seconds of the dashboard's event stream
	local P=$tmp/pki-$1
	curl -s -N --max-time 1.5 --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" \
		"https://localhost:$(cat "$tmp/$1.port.admin")/v1/events" >"$tmp/$1.events"
	python3 - "$tmp/$1.events" "$2" <<'PY'
import json, sys
ev, name = {}, None
for line in open(sys.argv[1]):
    if line.startswith("event:"):
        name = line[6:].strip()
    elif line.startswith("data:") and name:
        ev[name] = json.loads(line[5:])
hello, stats = ev.get("hello", {}), ev.get("stats", {})
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}
ok events tianjin '{p["id"]: p["region"] for p in hello["peers"]} == {"beijing": "11", "hebei": "13"} and stats["deliveries"]["hebei"]["delivered"] == 2'
ok events hebei '{p["id"] for p in hello["peers"]} == {"beijing", "tianjin"} and hello["catalogue"] == "langfang" and stats["received"]["tianjin"]["stored"] == 2'

# ---- 2. store and forward ------------------------------------------------------------------------
ok stop hebei
ok test "$(push tianjin mca "$data/mca-langfang-batch.json")" = 202
ok sql_is tianjin "select count(*) from outbox where recipient='hebei' and state='pending'" 5
ok wait_for 30 "Tianjin retrying the five envelopes while Hebei is down" \
	sql_is tianjin "select count(*) from outbox where recipient='hebei' and state='pending' and attempts >= 1 and last_error is not null" 5
ok start hebei
ok wait_for 30 "the five envelopes delivered once Hebei is back" \
	sql_is tianjin "select count(*) from outbox where recipient='hebei' and state='delivered'" 7
ok sql_is tianjin "select count(*) from outbox where state<>'delivered'" 0
# every record once in effect: stored once, its envelope kept once
ok sql_is hebei "select count(*) from records where sender='tianjin'" 7
ok sql_is hebei "select count(*) from records where message_id like 'mca:TJ-MZ-120104-202611-01%'" 5
ok sql_is hebei "select count(*) from (select message_id from envelopes group by message_id having count(*) > 1)" 0
ok sql_is hebei "select count(*) from envelopes" 7

# an envelope posted again by hand (Tianjin's certificate): 409, audited "replayed", nothing stored
python3 -c 'import sqlite3,sys; open(sys.argv[2], "wb").write(sqlite3.connect(sys.argv[1]).execute(sys.argv[3]).fetchone()[0])' \
	"$tmp/tianjin/msgw.db" "$tmp/envelope.json" "select body from outbox where recipient='hebei' order by id desc limit 1"
mid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["envelope"]["message_id"])' "$tmp/envelope.json")
peer_post() { # peer_post PKI_DIR CERT BODY -> "HTTP_CODE CURL_EXIT" (to Hebei's peering port)
	curl -s -o "$tmp/answer.json" -w '%{http_code}' --cacert "$tmp/pki-hebei/ca.crt" --cert "$1/$2.crt" --key "$1/$2.key" \
		-H "Content-Type: application/vnd.msgw.envelope+json" --data-binary "@$3" \
		"https://localhost:${PEERING[hebei]}/v1/envelopes"
	echo " $?"
}
ok test "$(peer_post "$tmp/pki-tianjin" gateway "$tmp/envelope.json")" = "409 0"
ok audit_has hebei "f['action'] == 'replayed' and f['peer'] == 'tianjin' and f['message_id'] == '$mid'"
ok sql_is hebei "select count(*) from records" 7
ok sql_is hebei "select count(*) from envelopes" 7

# ---- 3. an altered envelope ----------------------------------------------------------------------
# one character of the record changed (the assistance category 10 -> 30), the signature kept
python3 - "$tmp/envelope.json" "$tmp/tampered.json" <<'PY'
import sys
s = open(sys.argv[1], encoding="utf-8").read()
t = s.replace('"assistance_category":"10"', '"assistance_category":"30"', 1)
assert t != s
open(sys.argv[2], "w", encoding="utf-8").write(t)
PY
ok test "$(peer_post "$tmp/pki-tianjin" gateway "$tmp/tampered.json")" = "403 0"
ok python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["errors"][0]["rule"] == "envelope.signature" else 1)' "$tmp/answer.json"
ok audit_has hebei "f['action'] == 'rejected' and f['rule'] == 'envelope.signature' and f['peer'] == 'tianjin' and f['message_id'] == '$mid'"
ok sql_is hebei "select count(*) from records" 7
ok sql_is hebei "select count(*) from envelopes" 7
ok sql_is hebei "select count(*) from facts where attributes like '%\"30\"%'" 0

# ---- 3b. several envelopes in one request --------------------------------------------------------
# (Tianjin sent its envelopes in lists all along: envelopes_per_message defaults to 100.)  A list
# of the replayed and the altered envelope: 200, each answered as if alone, in order, nothing stored
peer_post_list() { # peer_post_list N BODY -> the HTTP status (X-Msgw-Envelopes: N)
	curl -s -o "$tmp/answer.json" -w '%{http_code}' --cacert "$tmp/pki-hebei/ca.crt" \
		--cert "$tmp/pki-tianjin/gateway.crt" --key "$tmp/pki-tianjin/gateway.key" \
		-H "Content-Type: application/vnd.msgw.envelope+json" -H "X-Msgw-Envelopes: $1" --data-binary "@$2" \
		"https://localhost:${PEERING[hebei]}/v1/envelopes"
}
python3 -c 'import sys; open(sys.argv[3], "w").write("[" + open(sys.argv[1]).read() + "," + open(sys.argv[2]).read() + "]")' \
	"$tmp/envelope.json" "$tmp/tampered.json" "$tmp/list.json"
ok test "$(peer_post_list 2 "$tmp/list.json")" = 200
ok python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; sys.exit(0 if [(x["status"], x["answer"]["errors"][0]["rule"]) for x in r] == [(409, "envelope.replayed"), (403, "envelope.signature")] else 1)' "$tmp/answer.json"
ok sql_is hebei "select count(*) from records" 7
# a count that does not match the array, or not an array: refused whole
ok test "$(peer_post_list 3 "$tmp/list.json")" = 400
ok python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["errors"][0]["rule"] == "envelope.list" else 1)' "$tmp/answer.json"
ok test "$(peer_post_list 1 "$tmp/envelope.json")" = 400

# ---- 4. certificates the peering port does not trust ----------------------------------------------
# the TLS handshake fails: no HTTP status; curl's exit is 35 (handshake), or with TLS 1.3, where the
# server judges the client certificate after the client has finished, 55 or 56 (the alert arrives
# while sending or receiving); the peering listener's handshake failure counter confirms it below
handshake_refused() {
	local r
	r=$(peer_post "$@")
	[[ $r =~ ^000\ (35|55|56)$ ]] || { echo "expected a failed handshake, got: $r"; return 1; }
}
ok handshake_refused "$tmp/pki-rogue" gateway "$tmp/envelope.json"  # O=12 OU=gateway, untrusted CA
ok handshake_refused "$tmp/pki-hebei" mca "$tmp/envelope.json"      # Hebei's own department
ok sql_is hebei "select count(*) from records" 7
admin_get() { # admin_get NAME PATH -> the body
	local P=$tmp/pki-$1
	curl -s --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" "https://localhost:$(cat "$tmp/$1.port.admin")$2"
}
ok python3 -c '
import re, sys
n = sum(int(v) for v in re.findall(r"^msgw_tls_handshake_failures_total\{[^}]*listener=\"peering\"[^}]*\} (\d+)", sys.stdin.read(), re.M))
sys.exit(0 if n >= 2 else 1)' < <(admin_get hebei /metrics)

# ---- 4b. people registered in provinces without a peer ---------------------------------------------
# Tianjin's disability federation certifies four residents of Tianjin (issue 12): a child registered
# in Zhengzhou (410105) and an adult registered in Shanghai (310101), whose regions have no peer, a
# Langfang-registered adult (131003) and one still registered under a retired Baoding code (130621
# 满城县, a district since 2015), whose region, Hebei, has one.  All four are accepted and stored;
# only the two Hebei ones are forwarded; the child gets Tianjin's residence-decided 学前教育幼儿资助
# (TJ-D2-10) and, like the Shanghai adult, none of its hukou-decided services.
read -r ZZ SH LF2 BD < <(python3 - "$tmp/provinces.json" <<'PY'
import datetime, json, sys
W, C = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], "10X98765432"
def idnum(region, born, seq):
    s = region + born.strftime("%Y%m%d") + seq
    return s + C[sum(int(a) * w for a, w in zip(s, W)) % 11]
today = datetime.date.today()
child_born = today - datetime.timedelta(days=5 * 365 + 60)  # 5 years old, whatever the day
people = [  # name, sex, born, hukou, residence, category, grade
    ("王小雨", "1", child_born, "410105", "120104", "5", "2"),
    ("陈静", "2", datetime.date(1985, 2, 3), "310101", "120116", "4", "3"),
    ("刘强", "1", datetime.date(1988, 4, 9), "131003", "120104", "1", "2"),
    ("赵德胜", "1", datetime.date(1955, 9, 20), "130621", "120101", "4", "2"),
]
records, ids = [], []
for i, (name, sex, born, hukou, residence, cat, grade) in enumerate(people):
    pid = idnum(hukou, born, "%02d%s" % (21 + i, sex))
    ids.append(pid)
    records.append({
        "kind": "disability_certificate",
        "source": {"department": "cdpf", "message_id": "TJ-CL-120104-2026-0020%d" % (i + 1)},
        "persons": [{"id_number": pid, "name": name, "sex": sex, "birth_date": born.isoformat(),
                     "hukou_region": hukou, "hukou_type": "1", "residence_region": residence}],
        "facts": [{"type": "disability", "subject": pid,
                   "valid_from": (today - datetime.timedelta(days=30)).isoformat(),
                   "attributes": {"disability_certificate_no": pid + cat + grade,
                                  "disability_category": cat, "disability_grade": grade,
                                  "certificate_event": "issue"}}]})
json.dump(records, open(sys.argv[1], "w"), ensure_ascii=False)
print(" ".join(ids))
PY
)
hebei_before=$(sql hebei "select count(*) from records where sender='tianjin'")
ok test "$(push tianjin cdpf "$tmp/provinces.json")" = 202
ok python3 -c 'import json,sys; r = json.load(open(sys.argv[1]))["records"]; sys.exit(0 if [x["outcome"] for x in r] == ["stored"] * 4 else 1)' "$tmp/pushed.json"
ok sql_is tianjin "select count(*) from records where message_id like 'cdpf:TJ-CL-120104-2026-0020%'" 4
ok sql_is tianjin "select count(*) from facts where type='disability' and subject in ('$ZZ', '$SH', '$LF2', '$BD')" 4
ok wait_for 30 "the Langfang and Baoding certificates delivered to Hebei" \
	sql_is tianjin "select count(*) from outbox where recipient='hebei' and state='delivered' and person in ('$LF2', '$BD')" 2
# no envelope for the Zhengzhou and Shanghai people, to any peer: their regions have none
ok sql_is tianjin "select count(*) from outbox where person in ('$ZZ', '$SH') and recipient not in ('mca', 'cdpf')" 0
ok sql_is tianjin "select count(*) from envelopes where direction='sent' and message_id like 'cdpf:TJ-CL-120104-2026-0020%'" 2
ok sql_is hebei "select count(*) from records where sender='tianjin'" "$((hebei_before + 2))"
ok sql_is hebei "select count(*) from records where canonical like '%$ZZ%' or canonical like '%$SH%'" 0
ok sql_is beijing "select count(*) from records" 0
# evaluated here: the residence-decided service for the child, no hukou-decided one for either
ok sql_is tianjin "select count(*) from transitions where person='$ZZ' and service='TJ-D2-10' and kind='new'" 1
ok sql_is tianjin "select count(*) from transitions where person in ('$ZZ', '$SH') and service in ($hukou_decided)" 0
ok sql_is tianjin "select hukou_region || ' ' || residence_region from transitions where person='$ZZ' and service='TJ-D2-10'" "410105 120104"

# ---- 5. the evidence verifies, and everyone stops cleanly -------------------------------------------
for g in $GATEWAYS; do ok stop "$g"; done
for g in $GATEWAYS; do
	ok "$msgw" audit verify --dir "$tmp/$g/audit" --cert "$tmp/pki-$g/gateway.crt" >/dev/null
	if grep -qE 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$tmp/$g.log"; then
		fail=$((fail + 1))
		echo "FAIL: sanitizer report in $g's log"
		grep -m 5 -A 10 -E 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$tmp/$g.log"
	fi
done

# ---- 6. the demo (make federation): the scripted scenario only ---------------------------------------
build=$(cd "$(dirname "$msgw")/../.." && pwd)
(cd "$root" && MSGW_DEMO_ROUNDS=1 timeout 60 ./deploy/federation.sh "$build" >"$build/federation.log" 2>&1)
ok test $? -eq 0
ok grep -q "^  Hebei mca: NEW LF-071 困难残疾人生活补贴和重度残疾人护理补贴 for 131082\*\{8\}0154 (cause: cdpf:TJ-CL-120104-2026-00101)$" "$build/federation.log"
ok grep -q "^  Tianjin mca: NEW TJ-D7-12 .* for 120104\*\{8\}0334 " "$build/federation.log"
ok grep -q "^  Tianjin -> Hebei: envelope cdpf:TJ-CL-120104-2026-00101 " "$build/federation.log"
ok test "$(grep -c -e "^  Beijing \(mca\|cdpf\):" -e "-> Beijing" -e "^  Tianjin .*: .* for 131082" "$build/federation.log")" = 0
[[ $fail == 0 ]] || tail -n 40 "$build/federation.log"
echo "federation test: $((SECONDS - started)) s"
finish
