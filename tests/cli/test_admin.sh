#!/usr/bin/env bash
# The administrators' listener as a process, with curl and real certificates: an administrator's
# certificate is admitted, a department's gets 403, none fails the handshake; /healthz answers;
# /readyz names each check, and fails on a gateway certificate that expires within the warning
# period (swapped in by SIGHUP) and on a store whose commits fail; /metrics counts a push and reads
# the outbox, store and certificate gauges, in a well-formed Prometheus exposition; /v1/transports
# lists the listeners and deliverers running, and a daemon configured with every transport starts
# each one from the registries, its endpoint file holding what the endpoint says.
set -uo pipefail
msgw=${MSGW_BIN:?}
root=${MSGW_SOURCE_ROOT:?}
tmp=$(mktemp -d)
pid= lock_pid=
cleanup() { [[ -n $lock_pid ]] && kill "$lock_pid" 2>/dev/null; [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
pass=0 fail=0
ok() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }
P=$tmp/pki
"$root/certs/dev-pki.sh" "$P" 12 >/dev/null 2>&1
config() { # config GATEWAY_CERT
	cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$1", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "admin": { "listen": "127.0.0.1:0", "cert_warning_days": 30 },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" }, "push": ["household_assistance_roster"] } ] }
JSON
}
config "$P/gateway.crt"
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do [[ -s $tmp/port.admin ]] && break; sleep 0.1; done
admin=$(cat "$tmp/port.admin")
port=$(cat "$tmp/port")
ok test -n "$admin"
get() { # get CERT PATH -> status, body in $tmp/body
	local cert=()
	[[ $1 != none ]] && cert=(--cert "$P/$1.crt" --key "$P/$1.key")
	curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$P/ca.crt" "${cert[@]}" "https://localhost:$admin$2"
}
has() { python3 -c 'import json,re,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$tmp/body" "$1"; }

ok test "$(get admin /healthz)" = 200
ok has 'd["status"] == "alive"'
ok test "$(get mca /healthz)" = 403 # a department certificate
ok has 'd["errors"][0]["rule"] == "admin.role"'
ok test "$(get none /healthz)" = 000 # no certificate: refused at the handshake
ok test "$(get admin /readyz)" = 200
ok has 'd["ready"] and [c["name"] for c in d["checks"]][:4] == ["store", "catalogue", "certificate.gateway", "certificate.ca"] and all(c["ok"] for c in d["checks"])'
ok test "$(get admin /nothing)" = 404
# a resumed TLS session (a browser's parallel connections resume) is admitted, with its role:
# TLS 1.2 session ids, and a TLS 1.3 ticket carrying a request that must still pass the role check
as_admin_tls=(-connect "localhost:$admin" -cert "$P/admin.crt" -key "$P/admin.key" -CAfile "$P/ca.crt")
ok test "$(openssl s_client -tls1_2 -reconnect "${as_admin_tls[@]}" </dev/null 2>/dev/null | grep -c '^Reused')" -ge 5
(printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n'; sleep 1) |
	openssl s_client -sess_out "$tmp/session" "${as_admin_tls[@]}" >/dev/null 2>&1
(printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n'; sleep 1) |
	openssl s_client -sess_in "$tmp/session" "${as_admin_tls[@]}" >"$tmp/resumed" 2>&1
ok grep -q '^Reused, TLSv1.3' "$tmp/resumed"
ok grep -q '^HTTP/1.1 200 OK' "$tmp/resumed"

# a gateway certificate that expires in 5 days, swapped in by SIGHUP: /readyz fails and names it
openssl req -new -key "$P/gateway.key" -subj "/O=12/OU=gateway/CN=gateway.12.msgw.local" -out "$tmp/short.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$tmp/short.ext"
openssl x509 -req -in "$tmp/short.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 5 -sha256 \
	-extfile "$tmp/short.ext" -out "$tmp/short.crt" 2>/dev/null
config "$tmp/short.crt"
kill -HUP "$pid"
for _ in $(seq 100); do grep -q '"reloaded"' "$tmp/log" && break; sleep 0.1; done
ok test "$(get admin /readyz)" = 503
ok has 'not d["ready"] and [c["name"] for c in d["checks"] if not c["ok"]] == ["certificate.gateway"] and "in 4 days" in [c for c in d["checks"] if c["name"] == "certificate.gateway"][0]["detail"]'

# a store whose commits fail (another connection holds its write lock past the busy timeout)
python3 - "$tmp/data/msgw.db" "$tmp/locked" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
time.sleep(20)
PY
lock_pid=$!
for _ in $(seq 100); do [[ -e $tmp/locked ]] && break; sleep 0.05; done
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/mca.crt" --key "$P/mca.key" \
	-H "Content-Type: application/vnd.msgw.mca.roster+xml" --data-binary "@$root/tests/data/mca/roster-valid.xml" \
	"https://localhost:$port/v1/records")
ok test "$code" = 503
ok test "$(get admin /readyz)" = 503
ok has '[c for c in d["checks"] if c["name"] == "store"][0]["ok"] is False'
kill "$lock_pid"
wait "$lock_pid" 2>/dev/null
lock_pid=

# /metrics (docs/metrics.md): a push counted once committed, the outbox gauges and certificate
# expiry read at the scrape; the exposition checked line by line; a department gets 403
for _ in $(seq 50); do
	code=$(curl -s -o "$tmp/pushed" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/mca.crt" --key "$P/mca.key" \
		-H "Content-Type: application/vnd.msgw.mca.roster+xml" --data-binary "@$root/tests/data/mca/roster-valid.xml" \
		"https://localhost:$port/v1/records")
	[[ $code == 202 ]] && break
	sleep 0.2 # the store's lock is being released
done
ok test "$code" = 202
stored=$(python3 -c 'import json,sys; print(sum(r["outcome"] == "stored" for r in json.load(open(sys.argv[1]))["records"]))' "$tmp/pushed")
ok test "$stored" -gt 0
ok test "$(get admin /metrics)" = 200
ok test "$(curl -s -o /dev/null -w '%{content_type}' --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" \
	"https://localhost:$admin/metrics")" = "text/plain; version=0.0.4; charset=utf-8"
ok grep -qx "msgw_records_received_total{department=\"mca\",kind=\"household_assistance_roster\",outcome=\"stored\"} $stored" "$tmp/body"
ok grep -qx 'msgw_requests_refused_total{department="mca",status="503"} 1' "$tmp/body" # the locked store
ok grep -qx 'msgw_failures_total{component="store"} 1' "$tmp/body" # counted, and logged:
ok grep -q '"msg":"a group of pushes could not be committed: answered 503, engine undone"' "$tmp/log"
# the failed group was undone in the engine (a savepoint), not by replaying the store: the only
# rebuild is the one at the start, and the same roster pushed again is evaluated afresh
ok grep -qx 'msgw_engine_rebuilds_total 1' "$tmp/body"
ok python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["transitions"] > 0 else 1)' "$tmp/pushed"
ok grep -q '^msgw_certificate_expiry_seconds{certificate="gateway",subject="CN=gateway.12.msgw.local,OU=gateway,O=12"} [0-9]' "$tmp/body"
ok grep -q '^msgw_certificate_expiry_seconds{certificate="ca",subject="CN=msgw development CA 12,OU=msgw,O=12"} [0-9]' "$tmp/body"
ok grep -q '^msgw_outbox_pending{recipient="mca"} [0-9]' "$tmp/body"
ok grep -q '^msgw_outbox_oldest_pending_seconds{recipient="mca"} [0-9]' "$tmp/body"
ok grep -q '^msgw_outbox_dead{recipient="mca"} 0$' "$tmp/body"
ok grep -q '^msgw_store_size_bytes [1-9]' "$tmp/body"
ok grep -Eq '^process_resident_memory_bytes [1-9][0-9]{6,}' "$tmp/body" # at least a megabyte: read, not 0
ok grep -q '^msgw_ingest_commit_seconds_count [1-9]' "$tmp/body"
ok grep -q '^msgw_tls_handshake_failures_total{listener="admin",reason="no_certificate"} [1-9]' "$tmp/body" # curl without one
# every line a HELP, a TYPE or a sample of a declared family; each histogram's +Inf bucket = _count
ok python3 - "$tmp/body" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
assert text.endswith("\n")
types, inf, count = {}, {}, {}
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? (\S+)$')
for line in text.splitlines():
    if line.startswith("# HELP "):
        continue
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split(" ")
        assert kind in ("counter", "gauge", "histogram"), line
        assert name not in types, "TYPE twice: " + name
        types[name] = kind
        continue
    m = sample.match(line)
    assert m, "not a sample: " + line
    name, labels, value = m.group(1), m.group(2) or "", m.group(3)
    float(value)
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    assert name in types or types.get(base) == "histogram", "undeclared: " + line
    if types.get(name) == "counter":
        assert name.endswith("_total"), name
    key = (base, re.sub(r',?le="[^"]*"', "", labels).replace("{}", ""))
    if name.endswith("_bucket") and 'le="+Inf"' in labels:
        inf[key] = value
    if name.endswith("_count") and types.get(base) == "histogram":
        count[key] = value
assert inf and inf == count, (inf, count)
PY
ok test "$(get mca /metrics)" = 403
# the same roster again: every record a replay, told by the store — the engine keeps only the ids
# of the groups in flight, and looks up each id its filter cannot rule out (docs/eligibility.md)
ok test "$(curl -s -o "$tmp/again" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/mca.crt" --key "$P/mca.key" \
	-H "Content-Type: application/vnd.msgw.mca.roster+xml" --data-binary "@$root/tests/data/mca/roster-valid.xml" \
	"https://localhost:$port/v1/records")" = 202
ok python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["records"] and all(r["outcome"] == "duplicate" for r in d["records"]) and d["transitions"] == 0 else 1)' "$tmp/again"
ok test "$(get admin /metrics)" = 200
ok python3 -c 'import re,sys; m=re.search(r"^msgw_engine_replay_lookups_total (\S+)$", open(sys.argv[1]).read(), re.M); sys.exit(0 if m and float(m.group(1)) >= int(sys.argv[2]) else 1)' "$tmp/body" "$stored"
# GET /v1/messages/{id}: the roster's first record end to end, from the admin listener only
mid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"][0]["message_id"])' "$tmp/pushed" 2>/dev/null)
if [[ -n $mid ]]; then
	ok test "$(get admin "/v1/messages/$mid")" = 200
	ok has 'd["message_id"] == "'"$mid"'" and d["sender"] == "mca" and len(d["body_sha256"]) == 64 and d["facts"]'
	ok test "$(get mca "/v1/messages/$mid")" = 403
else
	ok false "no pushed message id to trace"
fi
ok test "$(get admin "/v1/messages/mca:no-such-id")" = 404

# the transition log (docs/admin.md): the roster's transitions, masked; filtered by district and
# service; a person's page with the number masked; 404 for an unknown person
ok test "$(get admin "/v1/transitions?limit=1000")" = 200
ok has 'd["transitions"] and all(re.fullmatch(r"\d{6}\*{8}[\dX]{4}", t["person"]) for t in d["transitions"]) and all(t["explanation"] and t["cause"] for t in d["transitions"])'
service=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["transitions"][0]["service"])' "$tmp/body")
ok test "$(get admin "/v1/transitions?service=$service")" = 200
ok has 'd["transitions"] and all(t["service"] == "'"$service"'" for t in d["transitions"])'
ok test "$(get admin "/v1/transitions?district=99")" = 200
ok has 'd["transitions"] == []'
idn=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select subject from facts where length(subject) = 18 limit 1").fetchone()[0])' "$tmp/data/msgw.db")
ok test "$(get admin "/v1/persons/$idn")" = 200
ok has 'd["person"] == "'"${idn:0:6}********${idn:14:4}"'" and d["records"] and "'"$idn"'" not in json.dumps(d)'
ok test "$(get admin "/v1/persons/110101190001010000")" = 404
ok has 'd["errors"][0]["rule"] == "person.unknown"'
ok test "$(get mca "/v1/transitions")" = 403
# the live stream: hello, then stats with the push counted
curl -s -N --max-time 3 --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" "https://localhost:$admin/v1/events" >"$tmp/events"
ok grep -qx 'event: hello' "$tmp/events"
ok python3 - "$tmp/events" "$stored" <<'PY'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
stats = [json.loads(lines[i + 1][6:]) for i, l in enumerate(lines) if l == "event: stats"]
hello = [json.loads(lines[i + 1][6:]) for i, l in enumerate(lines) if l == "event: hello"][0]
assert len(stats) >= 2, stats
assert stats[-1]["received"]["mca"]["stored"] == int(sys.argv[2]), stats[-1]
assert [d["id"] for d in hello["departments"]] == ["mca"] and hello["services"], hello
PY
# the dashboard's page, and a POST from another site's page refused
ok test "$(get admin /)" = 200
ok grep -q '<script src="/dashboard.js"' "$tmp/body"
ok test "$(curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" \
	-X POST -H 'Origin: https://elsewhere.example' "https://localhost:$admin/v1/deadletters/replay")" = 403
ok has 'd["errors"][0]["rule"] == "admin.origin"'
ok test "$(curl -s -o "$tmp/body" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" \
	-X POST -H "Origin: https://localhost:$admin" "https://localhost:$admin/v1/deadletters/replay")" = 200
# GET /v1/transports: the running listeners and deliverers, each with its endpoint and counts; the
# HTTPS listener's endpoint is the port file's port, and it counted the pushes above
ok test "$(get admin /v1/transports)" = 200
ok has '[l["name"] for l in d["listeners"]] == ["https"] and d["listeners"][0]["endpoint"] == "'"$port"'" and d["listeners"][0]["requests"] >= 2 and d["listeners"][0]["connections"] >= 0'
ok has '[x["name"] for x in d["deliverers"]] == ["webhook"] and d["deliverers"][0]["recipients"] == 0 and all(d["deliverers"][0][k] == 0 for k in ("delivered", "retried", "dead", "sent", "store_failures"))'
ok test "$(get mca /v1/transports)" = 403
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
pid=

# Every registered transport a configuration asks for is started from the registries, and each
# endpoint's file holds what /v1/transports says: the listeners https, peering, zmq and the
# deliverers webhook and zmq, in the registries' order
"$root/certs/dev-pki.sh" "$tmp/pki13" 13 >/dev/null 2>&1
cat >"$tmp/all.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/all",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "admin": { "listen": "127.0.0.1:0" },
  "zmq": { "listen": "tcp://127.0.0.1:*", "deliver_listen": "tcp://127.0.0.1:*", "curve_secret_file": "$P/gateway.curve" },
  "peering": { "listen": "127.0.0.1:0" },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" }, "push": ["household_assistance_roster"],
      "curve_public": "$(sed -n 's/^public=//p' "$P/mca.curve")" },
    { "id": "cdpf", "certificate": { "organization": "12", "unit": "cdpf" }, "push": ["disability_certificate"],
      "curve_public": "$(sed -n 's/^public=//p' "$P/cdpf.curve")", "eligibility": true, "deliver": { "zmq": {} } } ],
  "peers": [ { "id": "hebei", "region": "13", "url": "https://localhost:9", "ca": "$tmp/pki13/ca.crt",
               "kinds": ["disability_certificate"], "fields": ["disability_grade"] } ] }
JSON
"$msgw" serve --config "$tmp/all.json" --port-file "$tmp/all.port" 2>"$tmp/all.log" &
pid=$!
for _ in $(seq 100); do [[ -s $tmp/all.port.zmq ]] && break; sleep 0.1; done
admin=$(cat "$tmp/all.port.admin")
ok test "$(get admin /v1/transports)" = 200
ok has '[l["name"] for l in d["listeners"]] == ["https", "peering", "zmq"] and [x["name"] for x in d["deliverers"]] == ["webhook", "zmq"]'
ok has 'd["listeners"][0]["endpoint"] == "'"$(cat "$tmp/all.port")"'" and d["listeners"][1]["endpoint"] == "'"$(cat "$tmp/all.port.peering")"'"'
ok has 'd["listeners"][2]["endpoint"] == "'"$(cat "$tmp/all.port.zmq")"'" and d["listeners"][2]["endpoint"].startswith("tcp://127.0.0.1:")'
ok has 'd["deliverers"][1]["endpoint"] == "'"$(cat "$tmp/all.port.zdeliver")"'" and d["deliverers"][1]["consumers"] == 0 and d["deliverers"][1]["in_flight"] == 0'
ok has 'd["deliverers"][0]["recipients"] == 1 and "endpoint" not in d["deliverers"][0]' # the peer, by webhook
ok grep -q '"msg":"listening","transport":"peering"' "$tmp/all.log"
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
pid=
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
