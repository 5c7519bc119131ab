#!/usr/bin/env bash
# Certificates over time (issue 16 §6; docs/ingress.md "Revocation and reload", docs/admin.md
# "Certificates"): the daemon as a process with three development PKIs — A, the gateway's own CA
# (region 12, certificates for 825 days); B, a second CA (region 13, certificates for 10 days);
# C, a peer gateway's (Beijing).
#   - a CRL file that does not load, or that misses a CA of tls.ca, refuses the start, naming it;
#   - a keep-alive HTTPS connection opened before a SIGHUP that rotates the server certificate (to
#     B's), adds B to tls.ca and revokes hrss is still answered after it, on the same TLS session;
#     new connections get the new certificate (fingerprints from openssl s_client);
#   - hrss, revoked in a CRL written before the SIGHUP, is admitted until it and refused at the
#     handshake after it (msgw_tls_handshake_failures_total{reason="revoked"}); a department of B
#     is refused before and admitted after; the peer, revoked in its own CRL, fails the peering
#     handshake after it;
#   - the certificate gauges and GET /v1/certificates follow the reload: the new 10-day
#     certificate has 9 or 10 days left, the old one's series is gone;
#   - webhook deliveries present the new client certificate after the SIGHUP, and are refused to a
#     receiver whose certificate is revoked;
#   - a CRL that does not load refuses the reload (the old configuration stays); an expired CRL
#     loads with a warning and refuses its CA's departments (reason="crl_expired") but not an
#     administrator, until a fresh one is loaded;
#   - the audit log follows the rotation: GET /v1/audit/verify is 200 with the new certificate as
#     its signer, and the stopped log verifies with either certificate (the old key handed over).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
popgen=${MSGW_POPGEN:-$(dirname "$msgw")/../../tools/msgw-popgen}
A=$tmp/pki-a B=$tmp/pki-b C=$tmp/pki-c
"$root/certs/dev-pki.sh" "$A" 12 >/dev/null 2>&1
MSGW_PKI_DAYS=10 "$root/certs/dev-pki.sh" "$B" 13 >/dev/null 2>&1
"$root/certs/dev-pki.sh" "$C" 11 >/dev/null 2>&1
for P in "$A" "$B" "$C"; do "$root/certs/dev-crl.sh" "$P" >/dev/null; done
cat "$A/ca.crt" "$B/ca.crt" >"$tmp/both-ca.crt"
fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f; }
log_count() { grep -c "$1" "$tmp/log"; }
wait_log() { # wait_log PATTERN N: until the log holds N lines matching PATTERN
	for _ in $(seq 100); do [[ $(log_count "$1") -ge $2 ]] && return 0; sleep 0.1; done
	return 1
}

# a department's receiver (mca subscribes to cdpf's records): server certificate A's gateway.crt,
# client certificates of A or B
python3 "$root/tests/cli/webhook_receiver.py" "$A/gateway.crt" "$A/gateway.key" "$tmp/both-ca.crt" 200 \
	"$tmp/receiver.log" "$tmp/receiver.port" &
pids+=($!)
wait_file "$tmp/receiver.port"
config() { # config GATEWAY_PKI CA_FILE CRL_FILE PEER_CRL
	cat >"$tmp/msgw.json.new" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$2", "cert": "$1/gateway.crt", "key": "$1/gateway.key", "crl": "$3" },
  "https": { "listen": "127.0.0.1:0", "timeout_s": 300 },
  "admin": { "listen": "127.0.0.1:0" },
  "peering": { "listen": "127.0.0.1:0" },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" }, "push": ["household_assistance_roster"],
      "subscriptions": [ { "kinds": ["disability_certificate"], "from": ["cdpf"], "fields": ["hukou_region", "disability_grade"] } ],
      "deliver": { "webhook": { "url": "https://localhost:$(cat "$tmp/receiver.port")/inbox" } } },
    { "id": "hrss", "certificate": { "organization": "12", "unit": "hrss" }, "push": ["retirement"] },
    { "id": "health", "certificate": { "organization": "12", "unit": "health" }, "push": ["person_registration"] },
    { "id": "cdpf", "certificate": { "organization": "12", "unit": "cdpf" }, "push": ["disability_certificate"] },
    { "id": "mca13", "format": "mca", "certificate": { "organization": "13", "unit": "mca" },
      "push": ["household_assistance_roster"] } ],
  "peers": [ { "id": "beijing", "region": "11", "url": "https://127.0.0.1:9", "ca": "$C/ca.crt", "crl": "$4",
               "kinds": ["disability_certificate"], "fields": ["id_number", "disability_category"] } ] }
JSON
	mv "$tmp/msgw.json.new" "$tmp/msgw.json" # whole: a reload never reads half a file
}

# --- a CRL that does not load refuses the start, naming the key and the file
echo "not a CRL" >"$tmp/garbage.crl"
config "$A" "$A/ca.crt" "$tmp/garbage.crl" "$C/ca.crl"
"$msgw" serve --config "$tmp/msgw.json" 2>"$tmp/refused.log"
ok test $? = 2
ok grep -q "\"detail\":\"tls.crl $tmp/garbage.crl: holds no CRL" "$tmp/refused.log"
config "$A" "$tmp/both-ca.crt" "$A/ca.crl" "$C/ca.crl" # B's CA without its CRL
"$msgw" serve --config "$tmp/msgw.json" 2>"$tmp/refused.log"
ok test $? = 2
ok grep -q "tls.crl $A/ca.crl: holds no CRL of CN=msgw development CA 13,OU=msgw,O=13 (a CA of tls.ca)" "$tmp/refused.log"
config "$A" "$A/ca.crt" "$A/ca.crl" "$B/ca.crl" # the peer's CRL signed by another CA
"$msgw" serve --config "$tmp/msgw.json" 2>"$tmp/refused.log"
ok test $? = 2
ok grep -q "peers\[beijing\].crl $B/ca.crl: the CRL of CN=msgw development CA 13,OU=msgw,O=13 is not signed by a CA of peers\[beijing\].ca" "$tmp/refused.log"

# --- the gateway with A's certificate, A's CA and CRL (nothing revoked yet)
cp "$A/ca.crl" "$tmp/tls.crl"
cp "$C/ca.crl" "$tmp/peer.crl"
config "$A" "$A/ca.crt" "$tmp/tls.crl" "$tmp/peer.crl"
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>"$tmp/log" &
pid=$!
wait_file "$tmp/port" && wait_file "$tmp/port.admin" && wait_file "$tmp/port.peering" || { tail "$tmp/log"; exit 1; }
port=$(cat "$tmp/port") admin=$(cat "$tmp/port.admin") peering=$(cat "$tmp/port.peering")
idn=$(sed -n 's|.*<SFZH>\([0-9X]\{18\}\)</SFZH>.*|\1|p' "$root/tests/data/mca/roster-valid.xml" | head -n 1)
ask() { # ask PKI DEPT -> the status of a department's GET (000: the handshake failed)
	curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/both-ca.crt" --cert "$1/$2.crt" --key "$1/$2.key" \
		"https://localhost:$port/v1/persons/$idn/eligibility"
}
as_admin() { # as_admin PATH -> the body (an administrator of A)
	curl -s --cacert "$tmp/both-ca.crt" --cert "$A/admin.crt" --key "$A/admin.key" "https://localhost:$admin$1"
}
served() { # the SHA-256 fingerprint of the certificate a new connection gets
	openssl s_client -connect "localhost:$port" -servername localhost -cert "$A/mca.crt" -key "$A/mca.key" \
		-CAfile "$tmp/both-ca.crt" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 |
		cut -d= -f2 | tr -d : | tr A-F a-f
}
peer_status() { # the peer gateway C at the peering listener: 404 (peer.path) once admitted
	curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/both-ca.crt" --cert "$C/gateway.crt" --key "$C/gateway.key" \
		"https://localhost:$peering/"
}
failures() { # failures LISTENER REASON -> the count
	as_admin /metrics | sed -n "s/^msgw_tls_handshake_failures_total{listener=\"$1\",reason=\"$2\"} //p" | grep . || echo 0
}
days_of() { # days_of METRIC_LINE_PREFIX -> whole days of the gauge
	as_admin /metrics | grep -F "$1" | awk '{ printf "%d\n", $NF / 86400 }'
}
push_cdpf() { # push_cdpf SEED -> status: new records (a distinct population per seed) routed to mca
	"$popgen" --seed "$1" --households 10 --region tianjin --out "$tmp/pop$1" --format cdpf >/dev/null 2>&1
	curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/both-ca.crt" --cert "$A/cdpf.crt" --key "$A/cdpf.key" \
		-H "Content-Type: application/vnd.msgw.cdpf.certificate+xml" --data-binary "@$tmp/pop$1/cdpf-events.xml" \
		"https://localhost:$port/v1/records"
}
received_from() { # received_from CERT -> how many deliveries the receiver got with that client certificate
	grep -c "\"client_sha256\": \"$(fingerprint "$1")\"" "$tmp/receiver.log" 2>/dev/null || true
}

ok test "$(ask "$A" mca)" = 200
ok test "$(ask "$A" hrss)" = 200
ok test "$(ask "$B" mca)" = 000 # B is not trusted yet
ok test "$(failures ingress untrusted)" -ge 1
ok test "$(served)" = "$(fingerprint "$A/gateway.crt")"
ok test "$(peer_status)" = 404
gateway_a='msgw_certificate_expiry_seconds{certificate="gateway",subject="CN=gateway.12.msgw.local,OU=gateway,O=12"}'
ok grep -qx '82[45]' <<<"$(days_of "$gateway_a")" # the development PKI issues 825 days
ok test "$(days_of 'msgw_crl_next_update_seconds{crl="crl",issuer="CN=msgw development CA 12,OU=msgw,O=12"}')" = 29
ok grep -q '^msgw_crl_next_update_seconds{crl="peer_crl.beijing",issuer="CN=msgw development CA 11,OU=msgw,O=11"} ' <(as_admin /metrics)
as_admin /v1/certificates >"$tmp/certs.json"
ok python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["certificates"]; sys.exit(0 if [c["name"] for c in d] == ["gateway", "ca", "crl", "peer_ca.beijing", "peer_crl.beijing"] and all(c["state"] == "ok" for c in d) and d[0]["days_left"] in (824, 825) else 1)' "$tmp/certs.json"
ok test "$(push_cdpf 1)" = 202
for _ in $(seq 100); do [[ $(received_from "$A/gateway.crt") -gt 0 ]] && break; sleep 0.1; done
ok test "$(received_from "$A/gateway.crt")" -gt 0 # deliveries present the gateway's certificate

# a keep-alive connection of mca, opened now and used again after the reload
python3 - "$port" "$A/mca.crt" "$A/mca.key" "$tmp/both-ca.crt" "$tmp/ka.ready" "$tmp/ka.go" "$tmp/ka.json" "$idn" <<'PY' &
import hashlib, http.client, json, os, ssl, sys, time
port, cert, key, ca, ready, go, result, idn = sys.argv[1:9]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
c = http.client.HTTPSConnection("localhost", int(port), context=ctx, timeout=60)
def ask():
    c.request("GET", "/v1/persons/%s/eligibility" % idn)
    r = c.getresponse()
    r.read()
    return [r.status, c.sock.getsockname()[1], hashlib.sha256(c.sock.getpeercert(binary_form=True)).hexdigest()]
first = ask()
sock = c.sock
open(ready, "w").write(json.dumps(first))
while not os.path.exists(go):
    time.sleep(0.05)
try:
    out = {"first": first, "second": ask(), "same_socket": c.sock is sock}
except Exception as e:  # the connection was dropped
    out = {"first": first, "error": repr(e)}
open(result + ".tmp", "w").write(json.dumps(out))
os.rename(result + ".tmp", result)
PY
pids+=($!)
ok wait_file "$tmp/ka.ready"

# --- new files, written before the SIGHUP: B's server certificate, B added to tls.ca, hrss revoked
# in A's CRL, the peer's certificate revoked in C's; nothing of it is used until the SIGHUP
"$root/certs/dev-crl.sh" "$A" --revoke hrss >/dev/null
"$root/certs/dev-crl.sh" "$C" --revoke gateway --out "$tmp/peer.crl" >/dev/null
cat "$A/ca.crl" "$B/ca.crl" >"$tmp/tls.crl.new" && mv "$tmp/tls.crl.new" "$tmp/tls.crl"
config "$B" "$tmp/both-ca.crt" "$tmp/tls.crl" "$tmp/peer.crl"
ok test "$(ask "$A" hrss)" = 200 # revoked on disk, not yet loaded
ok test "$(peer_status)" = 404
ok test "$(failures ingress revoked)" = 0
kill -HUP "$pid"
ok wait_log '"msg":"reloaded"' 1
ok grep -q '"msg":"certificate expires soon","certificate":"gateway"' "$tmp/log" # 10 days < 30

: >"$tmp/ka.go"
ok wait_file "$tmp/ka.json"
ok python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); f, s = d["first"], d.get("second");
sys.exit(0 if s and d["same_socket"] and s[0] == 200 and s[1] == f[1] and s[2] == f[2] == sys.argv[2] else 1)' \
	"$tmp/ka.json" "$(fingerprint "$A/gateway.crt")" # answered on the same connection, the old certificate
ok test "$(served)" = "$(fingerprint "$B/gateway.crt")" # a new connection: the new certificate
ok test "$(ask "$A" hrss)" = 000                         # revoked: refused at the handshake
ok test "$(failures ingress revoked)" -ge 1
ok test "$(ask "$A" mca)" = 200
ok test "$(ask "$B" mca)" = 200 # the CA added to tls.ca
ok test "$(peer_status)" = 000  # the peer, revoked in its own CRL
ok test "$(failures peering revoked)" -ge 1
gateway_b='msgw_certificate_expiry_seconds{certificate="gateway",subject="CN=gateway.13.msgw.local,OU=gateway,O=13"}'
ok grep -qx '9\|10' <<<"$(days_of "$gateway_b")" # MSGW_PKI_DAYS=10
ok test -z "$(as_admin /metrics | grep -F "$gateway_a")" # the old certificate's series is gone
ok test "$(as_admin /metrics | grep -c '^msgw_certificate_expiry_seconds{certificate="ca",')" = 2
ok test "$(as_admin /metrics | grep -c '^msgw_crl_next_update_seconds{crl="crl",')" = 2
as_admin /v1/certificates >"$tmp/certs.json"
ok python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); g=[c for c in d["certificates"] if c["name"] == "gateway"];
sys.exit(0 if len(g) == 1 and g[0]["days_left"] in (9, 10) and g[0]["state"] == "warning" and g[0]["subject"].endswith("O=13") else 1)' "$tmp/certs.json"
as_admin /readyz >"$tmp/ready.json"
ok python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if not d["ready"] and [c["name"] for c in d["checks"] if not c["ok"]] == ["certificate.gateway"] else 1)' "$tmp/ready.json"
# the audit log signs with the new key from the reload, the old one having handed over to it
as_admin /v1/audit/verify >"$tmp/verify.json"
ok python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s=d["signed_by"];
sys.exit(0 if d["status"] == "ok" and s["cert_sha256"] == sys.argv[2] and s["key_changes"] == 1 and d["after_last_checkpoint"] <= 1 else 1)' \
	"$tmp/verify.json" "$(fingerprint "$B/gateway.crt")"
ok grep -q '"msg":"the audit log signs with a new key".*"handover":"signed by the previous key"' "$tmp/log"
# deliveries now present the new certificate
ok test "$(push_cdpf 2)" = 202
for _ in $(seq 100); do [[ $(received_from "$B/gateway.crt") -gt 0 ]] && break; sleep 0.1; done
ok test "$(received_from "$B/gateway.crt")" -gt 0

# --- the receiver's certificate revoked (A's gateway.crt, no longer the gateway's own): not sent to
"$root/certs/dev-crl.sh" "$A" --revoke gateway >/dev/null
cat "$A/ca.crl" "$B/ca.crl" >"$tmp/tls.crl.new" && mv "$tmp/tls.crl.new" "$tmp/tls.crl"
kill -HUP "$pid"
ok wait_log '"msg":"reloaded"' 2
before=$(wc -l <"$tmp/receiver.log")
ok test "$(push_cdpf 3)" = 202
sql() { python3 -c 'import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone(); print(r[0] if r else "")' "$tmp/data/msgw.db" "$1"; }
for _ in $(seq 100); do [[ $(sql "select count(*) from outbox where recipient = 'mca' and last_error like '%revoked%'") -gt 0 ]] && break; sleep 0.1; done
ok test "$(sql "select count(*) from outbox where recipient = 'mca' and last_error like '%revoked%'")" -gt 0
ok test "$(wc -l <"$tmp/receiver.log")" = "$before"

# --- a CRL that does not load refuses the reload: the previous configuration stays
cp "$tmp/tls.crl" "$tmp/tls.crl.good"
echo "-----BEGIN X509 CRL-----" >"$tmp/tls.crl"
kill -HUP "$pid"
ok wait_log '"msg":"reload failed: the previous configuration stays"' 1
ok grep -q "\"rule\":\"tls.crl\",\"detail\":\"tls.crl $tmp/tls.crl: cannot be read" "$tmp/log"
ok test "$(served)" = "$(fingerprint "$B/gateway.crt")"
ok test "$(ask "$A" hrss)" = 000 # still revoked
ok test "$(ask "$B" mca)" = 200

# --- an expired CRL of A: loaded with a warning; A's departments refused, B's and A's administrator not
"$root/certs/dev-crl.sh" "$A" --expired --out "$tmp/a-expired.crl" >/dev/null
cat "$tmp/a-expired.crl" "$B/ca.crl" >"$tmp/tls.crl"
kill -HUP "$pid"
ok wait_log '"msg":"reloaded"' 3
ok grep -q '"msg":"certificate expired","certificate":"crl","detail":"'"$tmp"'/tls.crl: the CRL of CN=msgw development CA 12,OU=msgw,O=12 expired' "$tmp/log"
ok test "$(ask "$A" health)" = 000
ok test "$(failures ingress crl_expired)" -ge 1
ok test "$(ask "$B" mca)" = 200
ok grep -q '^msgw_crl_next_update_seconds{crl="crl",issuer="CN=msgw development CA 12,OU=msgw,O=12"} -' <(as_admin /metrics)
as_admin /readyz >"$tmp/ready.json"
ok python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); bad=[c for c in d["checks"] if not c["ok"]];
sys.exit(0 if any(c["name"] == "certificate.crl" and " expired " in c["detail"] for c in bad) else 1)' "$tmp/ready.json"
# a fresh CRL and a SIGHUP: admitted again
cp "$tmp/tls.crl.good" "$tmp/tls.crl"
kill -HUP "$pid"
ok wait_log '"msg":"reloaded"' 4
ok test "$(ask "$A" health)" = 200
ok test "$(ask "$A" hrss)" = 000

kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
pid=
# the whole log verifies with either certificate (the hand-over), and not with a stranger's
"$msgw" audit verify --dir "$tmp/data/audit" --cert "$B/gateway.crt" >"$tmp/verify.txt"
ok test $? -eq 0
ok grep -q "0 entries after it are not yet covered" "$tmp/verify.txt"
ok grep -q "the signing key changed 1 time; the newest checkpoint is signed by sha256 $(fingerprint "$B/gateway.crt")" "$tmp/verify.txt"
"$msgw" audit verify --dir "$tmp/data/audit" --cert "$A/gateway.crt" >"$tmp/verify.txt"
ok test $? -eq 0
ok grep -q "0 entries after it are not yet covered" "$tmp/verify.txt"
"$msgw" audit verify --dir "$tmp/data/audit" --cert "$C/gateway.crt" >"$tmp/verify.txt"
ok test $? -ne 0
ok grep -q "no checkpoint is signed with the certificate given" "$tmp/verify.txt"
finish
