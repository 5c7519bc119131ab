#!/usr/bin/env bash
# Back-pressure and group commit, with the daemon as a process and curl over mutual TLS.
# A second SQLite connection holds the store's write lock, so the commit worker stalls the way a
# slow disk would stall it and the queue fills deterministically:
#   - a department beyond its share of the queue gets 429 with Retry-After;
#   - a request that would overfill the queue gets 503 with Retry-After;
#   - the requests accepted are answered 202 once the store moves again, nothing of the refused
#     ones is stored;
#   - many concurrent requests waiting together are committed in few transactions (group
#     commit: they share one recorded_at), every one of them answered 202;
#   - SIGTERM drains: requests already accepted are committed and answered before the exit;
#   - https.max_connections: a handshake beyond it fails, and succeeds again once one closes;
#   - a slow client (a request never finished) is cut off after https.timeout_s.
set -uo pipefail
msgw=${MSGW_BIN:?}
root=${MSGW_SOURCE_ROOT:?}
popgen=${MSGW_POPGEN:?}
tmp=$(mktemp -d)
pid=
cleanup() {
	[[ -n $pid ]] && kill "$pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
pass=0 fail=0
ok() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }

"$root/certs/dev-pki.sh" "$tmp/pki" 12 >/dev/null 2>&1
"$popgen" --seed 5 --households 12 --region tianjin --format hrss --records-per-file 1 --out "$tmp/hrss" >/dev/null 2>&1
P=$tmp/pki
MCA=application/vnd.msgw.mca.roster+xml
CDPF_XML=application/vnd.msgw.cdpf.certificate+xml
CDPF_CSV=application/vnd.msgw.cdpf.roster+csv
HRSS=application/vnd.msgw.hrss+json

config() { # config MAX_RECORDS DEPARTMENT_PERCENT [MAX_CONNECTIONS TIMEOUT_S]
	cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0", "max_connections": ${3:-1024}, "timeout_s": ${4:-30} },
  "queue": { "max_records": $1, "department_percent": $2 },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" },
      "push": ["household_assistance_roster"] },
    { "id": "cdpf", "certificate": { "organization": "12", "unit": "cdpf" },
      "push": ["disability_certificate"] },
    { "id": "hrss", "certificate": { "organization": "12", "unit": "hrss" },
      "push": ["insurance_enrolment", "insurance_termination", "employment_registration",
               "unemployment_registration", "retirement"] } ] }
JSON
}
start() {
	rm -f "$tmp/port"
	"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>>"$tmp/log" &
	pid=$!
	for _ in $(seq 100); do [[ -s $tmp/port ]] && break; sleep 0.1; done
	port=$(cat "$tmp/port" 2>/dev/null)
	ok test -n "$port"
}
# push NAME CERT MEDIA_TYPE FILE: status in $tmp/NAME.code, body in NAME.body, headers in NAME.hdr
push() {
	curl -s -D "$tmp/$1.hdr" -o "$tmp/$1.body" -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/$2.crt" \
		--key "$P/$2.key" -H "Content-Type: $3" --data-binary "@$4" "https://localhost:$port/v1/records" \
		>"$tmp/$1.code"
}
code() { cat "$tmp/$1.code"; }
retry_after() { grep -i '^Retry-After: [0-9]' "$tmp/$1.hdr" >/dev/null; }
# lock_store SECONDS: holds the store's write lock (BEGIN IMMEDIATE) until $tmp/release exists or time runs out
lock_store() {
	rm -f "$tmp/locked" "$tmp/release"
	python3 - "$tmp/data/msgw.db" "$tmp/locked" "$tmp/release" "$1" <<'PY' &
import os, sqlite3, sys, time
db, locked, release, limit = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
c = sqlite3.connect(db, isolation_level=None, timeout=30)
c.execute("BEGIN IMMEDIATE")
open(locked, "w").close()
end = time.time() + limit
while not os.path.exists(release) and time.time() < end:
    time.sleep(0.02)
c.execute("COMMIT")
PY
	lock_pid=$!
	for _ in $(seq 100); do [[ -e $tmp/locked ]] && break; sleep 0.05; done
}
release_store() {
	touch "$tmp/release"
	wait "$lock_pid"
}
sql() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$tmp/data/msgw.db" "$1"; }

# --- 429 and 503: a queue of 10 records, 40 % (4 records) per department --------------------
config 10 40
start
push warm mca $MCA "$root/tests/data/mca/invalid-records.xml" # creates the store; 1 record stored
ok test "$(code warm)" = 202
lock_store 4
push A mca $MCA "$root/tests/data/mca/roster-valid.xml" & # 3 records: accepted, waits for the store
a_pid=$!
sleep 0.5
push B mca $MCA "$root/tests/data/mca/roster-valid.xml" # mca would hold 6 > 4: its share
ok test "$(code B)" = 429
ok retry_after B
ok grep -q '"rule":"ingress.department_share"' "$tmp/B.body"
push C cdpf $CDPF_XML "$root/tests/data/cdpf/certificate-events.xml" & # 4 records: 7 queued, accepted
c_pid=$!
sleep 0.5
push D cdpf $CDPF_CSV "$root/tests/data/cdpf/roster-202610.csv" # 4 more: 11 > 10, the gateway is full
ok test "$(code D)" = 503
ok retry_after D
ok grep -q '"rule":"ingress.saturated"' "$tmp/D.body"
push E mca $MCA "$root/tests/data/mca/invalid-truncated.xml" # bad input is still answered at once
ok test "$(code E)" = 400
release_store
wait "$a_pid" "$c_pid"
ok test "$(code A)" = 202
ok test "$(code C)" = 202
ok test "$(sql "select count(*) from records where sender = 'mca'")" = 3 # 1 + 2 new from A
ok test "$(sql "select count(*) from records where sender = 'cdpf'")" = 4 # C only: nothing of D
# once the queue is empty, the same requests are accepted
push B2 mca $MCA "$root/tests/data/mca/roster-valid.xml"
ok test "$(code B2)" = 202
push D2 cdpf $CDPF_CSV "$root/tests/data/cdpf/roster-202610.csv"
ok test "$(code D2)" = 202
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
pid=

# --- group commit: 16 concurrent requests waiting on the store share few transactions -------
config 1000 100
start
lock_store 6
files=$(ls "$tmp/hrss"/*.json | head -16)
n=0
pids=()
for f in $files; do
	push "g$n" hrss $HRSS "$f" &
	pids+=($!)
	n=$((n + 1))
done
sleep 1.5
release_store
wait "${pids[@]}"
all202=1
for i in $(seq 0 $((n - 1))); do [[ $(code "g$i") == 202 ]] || all202=0; done
ok test "$all202" = 1
groups=$(sql "select count(distinct recorded_at) from records where sender = 'hrss'")
echo "group commit: $n requests committed in $groups transaction(s)"
ok test "$groups" -lt "$n"

# --- SIGTERM drains: accepted requests are committed and answered before the exit -----------
lock_store 3
files=$(ls "$tmp/hrss"/*.json | tail -4)
pids=()
k=0
for f in $files; do
	push "t$k" hrss $HRSS "$f" &
	pids+=($!)
	k=$((k + 1))
done
sleep 1
kill -TERM "$pid"
sleep 0.3
release_store
wait "${pids[@]}"
wait "$pid"
ok test $? -eq 0
pid=
drained=1
for i in $(seq 0 $((k - 1))); do [[ $(code "t$i") == 202 ]] || drained=0; done
ok test "$drained" = 1
ok grep -q '"msg":"stopped","detail":"drained"' "$tmp/log"

# --- connection limit and slow clients: 2 connections at most, 2 s to send a request -----------
config 1000 100 2 2
start
# hold N TLS connections open (handshake done) until $tmp/hold-stop exists; print what happened
hold() {
	python3 - "$port" "$P" "$tmp/hold-stop" "$@" <<'PY'
import os, socket, ssl, sys, time
port, pki, stop, n, partial = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "partial"
ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
ctx.load_cert_chain(pki + "/hrss.crt", pki + "/hrss.key")
conns = []
for _ in range(n):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    if partial:
        s.sendall(b"POST /v1/records HTTP/1.1\r\nHost: localhost\r\n")  # and never the rest
    conns.append(s)
print("open", flush=True)
if partial:  # the gateway must close a request that never completes, after https.timeout_s
    s = conns[0]
    s.settimeout(15)
    t = time.time()
    try:
        closed = s.recv(1) == b""
    except (ssl.SSLError, ConnectionError):
        closed = True
    except socket.timeout:
        closed = False
    print("closed after %.1f s" % (time.time() - t) if closed else "still open", flush=True)
    sys.exit(0)
while not os.path.exists(stop):
    time.sleep(0.05)
PY
}
rm -f "$tmp/hold-stop"
hold 2 full >"$tmp/hold.out" &
hold_pid=$!
for _ in $(seq 100); do grep -q open "$tmp/hold.out" 2>/dev/null && break; sleep 0.05; done
one=$(ls "$tmp/hrss"/*.json | head -1)
push over hrss $HRSS "$one"
ok test "$(code over)" = 000 # the third handshake is refused
touch "$tmp/hold-stop"
wait "$hold_pid"
sleep 0.3
push under hrss $HRSS "$one"
ok test "$(code under)" = 202
hold 1 partial >"$tmp/slow.out"
ok grep -q "closed after" "$tmp/slow.out"
kill -TERM "$pid"
wait "$pid"
pid=

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
