#!/usr/bin/env bash
# Limits per department (docs/ingress.md): civil affairs may push 5 requests a second (burst 5),
# the disability federation has no limit.  Civil affairs floods the gateway with 40 pushes, 8 at a
# time, while the federation pushes 10 one after the other: every federation push is answered 202,
# civil affairs gets 429 with Retry-After and the rule ingress.rate beyond its bucket (never more
# 202s than the burst and the refill over the time it took allow), and /metrics counts each refusal.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
P=$tmp/pki
"$root/certs/dev-pki.sh" "$P" 12 >/dev/null 2>&1
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "admin": { "listen": "127.0.0.1:0" },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" }, "push": ["household_assistance_roster"],
      "limit": { "requests_per_s": 5, "burst": 5 } },
    { "id": "cdpf", "certificate": { "organization": "12", "unit": "cdpf" }, "push": ["disability_certificate"] } ] }
JSON
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>"$tmp/log" &
pid=$!
wait_file "$tmp/port.admin" || exit 1
port=$(cat "$tmp/port") admin=$(cat "$tmp/port.admin")
push() { # push DEPT FILE MEDIA N: writes N-{status,headers,body}
	curl -s -o "$tmp/r/$4.body" -D "$tmp/r/$4.headers" -w '%{http_code}\n' --cacert "$P/ca.crt" --cert "$P/$1.crt" \
		--key "$P/$1.key" -H "Content-Type: $3" --data-binary "@$2" "https://localhost:$port/v1/records" >"$tmp/r/$4.status"
}
export -f push
export tmp P port
mkdir -p "$tmp/r"
t0=$(date +%s.%N)
seq -w 1 40 | xargs -P 8 -I{} bash -c 'push mca "$0" application/vnd.msgw.mca.roster+xml mca-{}' \
	"$root/tests/data/mca/roster-valid.xml" &
flood=$!
for i in $(seq -w 1 10); do
	push cdpf "$root/tests/data/cdpf/certificate-events.xml" application/vnd.msgw.cdpf.certificate+xml "cdpf-$i"
done
wait "$flood"
took=$(python3 -c 'import sys,time; print(time.time()-float(sys.argv[1]))' "$t0")
count() { cat "$tmp"/r/"$1"-*.status | grep -cx "$2"; }
ok test "$(count cdpf 202)" = 10
limited=$(count mca 429) accepted=$(count mca 202)
echo "civil affairs: $accepted accepted, $limited refused in ${took} s"
ok test "$limited" -gt 0
ok test $((accepted + limited)) = 40
ok python3 -c 'import sys; sys.exit(0 if int(sys.argv[1]) <= 5 + 5 * float(sys.argv[2]) + 2 else 1)' "$accepted" "$took"
# each refusal names the rule and says when to come back
for f in $(grep -lx 429 "$tmp"/r/mca-*.status); do
	n=${f%.status}
	grep -qi '^Retry-After: [1-9]' "$n.headers" && grep -q '"rule": *"ingress.rate"' "$n.body" || echo "bad refusal: $n" >>"$tmp/bad"
done
ok test ! -s "$tmp/bad"
curl -s -o "$tmp/metrics" --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" "https://localhost:$admin/metrics"
ok grep -qx "msgw_requests_limited_total{department=\"mca\"} $limited" "$tmp/metrics"
ok grep -qx "msgw_requests_refused_total{department=\"mca\",status=\"429\"} $limited" "$tmp/metrics"
ok test "$(grep -c 'msgw_requests_limited_total{department="cdpf"}' "$tmp/metrics")" = 0
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
pid=
finish
