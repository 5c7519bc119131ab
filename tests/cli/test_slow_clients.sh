#!/usr/bin/env bash
# Slow and greedy clients (issue 16 §4, docs/ingress.md "Connections"), with real TLS connections
# from tests/cli/slow_client.py.  The idle timeout is 60 s and every trickler sends a byte every
# 0.2 s, so libevent's own timeout (restarted by each byte) would never close them:
#  - clients that trickle a ClientHello, their headers or their body (50 bytes/s against a minimum
#    of 1000) are closed at their deadline, each counted under its reason in /metrics;
#  - a body sent slowly but above the minimum rate (3000 bytes/s, 9000 bytes: longer than the body's
#    2 s grace) is taken;
#  - pushes from a normal client are all answered 202 while the tricklers hold connections (their
#    latency printed beside the latency with nobody trickling);
#  - one address may hold max_connections_per_address connections: the next handshake is refused;
#  - a department may hold its limit.connections: the next connection's first request gets 503
#    ingress.connections with Retry-After.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
P=$tmp/pki
"$root/certs/dev-pki.sh" "$P" 12 >/dev/null 2>&1
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0", "timeout_s": 60, "header_timeout_s": 2, "body_timeout_s": 2,
             "body_min_rate": 1000, "max_connections_per_address": 10, "max_connections": 40 },
  "admin": { "listen": "127.0.0.1:0" },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" },
      "push": ["household_assistance_roster", "person_registration"], "limit": { "connections": 2 } },
    { "id": "hrss", "certificate": { "organization": "12", "unit": "hrss" }, "push": ["employment_registration"] } ] }
JSON
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>"$tmp/log" &
pid=$!
wait_file "$tmp/port.admin" || exit 1
port=$(cat "$tmp/port") admin=$(cat "$tmp/port.admin")
slow() { python3 "$root/tests/cli/slow_client.py" "$1" "$port" "$P" "${@:2}"; }
ROSTER=$root/tests/data/mca/roster-valid.xml MCA=application/vnd.msgw.mca.roster+xml
push() { # one push from a normal client: its status and time in seconds
	curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --cacert "$P/ca.crt" --cert "$P/mca.crt" \
		--key "$P/mca.key" -H "Content-Type: $MCA" --data-binary "@$ROSTER" "https://localhost:$port/v1/records"
}
metric() { # metric 'NAME{LABELS}': its value, 0 when absent
	curl -s --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" "https://localhost:$admin/metrics" |
		awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }'
}
wait_metric() { # wait_metric 'NAME{LABELS}' VALUE: until the metric has that value
	for _ in $(seq 100); do [[ $(metric "$1") == "$2" ]] && return 0; sleep 0.1; done
	echo "$1 is $(metric "$1"), not $2"
	return 1
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
wait_open() { # wait_open N: until the ingress has N connections open
	for _ in $(seq 200); do [[ $(metric 'msgw_connections_open{listener="ingress"}') == "$1" ]] && return 0; sleep 0.1; done
	return 1
}

# latency with nobody trickling
for _ in 1 2 3 4 5; do push; done >"$tmp/quiet"
ok test "$(grep -c '^202 ' "$tmp/quiet")" = 5

# three tricklers of each kind, and a normal client pushing meanwhile
slow handshake 3 >"$tmp/t.handshake" &
t1=$!
slow headers 3 >"$tmp/t.headers" &
t2=$!
slow body 3 >"$tmp/t.body" &
t3=$!
for _ in 1 2 3 4 5; do push; done >"$tmp/busy"
wait $t1 $t2 $t3
ok test "$(grep -c '^202 ' "$tmp/busy")" = 5
echo "a normal push, median seconds: $(cut -d' ' -f2 "$tmp/quiet" | median) alone," \
	"$(cut -d' ' -f2 "$tmp/busy" | median) beside 9 tricklers"
for kind in handshake headers body; do
	ok test "$(grep -c '^closed ' "$tmp/t.$kind")" = 3 # none ran into the 60 s give-up
	echo "$kind tricklers closed after (s, bytes sent): $(cut -d' ' -f2,3 "$tmp/t.$kind" | paste -sd' ')"
done
ok wait_metric 'msgw_connections_closed_total{listener="ingress",reason="header_timeout"}' 6
ok wait_metric 'msgw_connections_closed_total{listener="ingress",reason="body_timeout"}' 3
ok test "$(grep -c '"msg":"connection closed: no whole request headers in time","listener":"ingress","client":"127.0.0.1","rule":"header_timeout"' "$tmp/log")" = 6
ok test "$(grep -c '"msg":"connection closed: the request body came too slowly",.*"rule":"body_timeout"' "$tmp/log")" = 3

# slow but above the minimum rate: taken
ok test "$(slow steady "$ROSTER" "$MCA" 3000)" = 202

hold() { # hold DEPT N SOURCE NAME: N connections kept open (until release), each one's status in $tmp/NAME
	mkfifo "$tmp/$4.fifo"
	slow hold "$1" "$2" "$3" <"$tmp/$4.fifo" >"$tmp/$4" &
	held=$!
	exec 7>"$tmp/$4.fifo"
	for _ in $(seq 200); do [[ $(wc -l <"$tmp/$4") -ge $2 ]] && break; sleep 0.1; done
}
release() { exec 7>&-; wait "$held"; ok wait_open 0; }

# one address: 10 connections, the 11th refused at the handshake
hold hrss 11 127.0.0.3 a
ok test "$(grep -c '^refused$' "$tmp/a")" = 1
ok test "$(grep -vc '^refused$' "$tmp/a")" = 10
ok wait_metric 'msgw_connections_closed_total{listener="ingress",reason="address_limit"}' 1
ok test "$(push | cut -d' ' -f1)" = 202 # another address is not held back
release

# one department: two connections, the third's first request refused
hold mca 3 127.0.0.4 b
ok test "$(sed -n 3p "$tmp/b")" = 503
ok test "$(head -2 "$tmp/b" | grep -c 503)" = 0
ok wait_metric 'msgw_connections_closed_total{listener="ingress",reason="department_limit"}' 1
ok test "$(slow hold hrss 1 127.0.0.4 </dev/null)" != 503 # another department from the same address
release
ok test "$(push | cut -d' ' -f1)" = 202 # its connections closed, the department connects again
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
pid=
finish
