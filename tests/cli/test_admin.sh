#!/usr/bin/env bash
# The administrators' listener as a process, with curl and real certificates: an administrator's
# certificate is admitted, a department's gets 403, none fails the handshake; /healthz answers;
# /readyz names each check, and fails on a gateway certificate that expires within the warning
# period (swapped in by SIGHUP) and on a store whose commits fail.
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
has() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$tmp/body" "$1"; }

ok test "$(get admin /healthz)" = 200
ok has 'd["status"] == "alive"'
ok test "$(get mca /healthz)" = 403 # a department certificate
ok has 'd["errors"][0]["rule"] == "admin.role"'
ok test "$(get none /healthz)" = 000 # no certificate: refused at the handshake
ok test "$(get admin /readyz)" = 200
ok has 'd["ready"] and [c["name"] for c in d["checks"]][:4] == ["store", "catalogue", "certificate.gateway", "certificate.ca"] and all(c["ok"] for c in d["checks"])'
ok test "$(get admin /nothing)" = 404

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
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
pid=
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
