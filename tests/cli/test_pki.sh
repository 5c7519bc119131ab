#!/usr/bin/env bash
# certs/dev-pki.sh: a CA, a server and department certificates that verify, say who they are,
# keys readable only by their owner, CURVE key pairs, and nothing of it tracked by git; with
# MSGW_PKI_DAYS, certificates valid that many days.  certs/dev-crl.sh: the CA's CRL, revoking the
# certificates named (again and again: each CRL lists every one revoked so far), fresh or expired.
set -uo pipefail
root=${MSGW_SOURCE_ROOT:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { if "$@" >/dev/null 2>&1; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }

MSGW_CURVE_KEYGEN=${MSGW_CURVE_KEYGEN:?} "$root/certs/dev-pki.sh" "$tmp/pki" 1310 >/dev/null
for c in gateway mca hrss health cdpf admin; do
  ok openssl verify -CAfile "$tmp/pki/ca.crt" "$tmp/pki/$c.crt"
  ok test "$(stat -c %a "$tmp/pki/$c.key")" = 600
done
ok grep -q "OU = cdpf" <(openssl x509 -in "$tmp/pki/cdpf.crt" -noout -subject)
ok grep -q "O = 1310" <(openssl x509 -in "$tmp/pki/mca.crt" -noout -subject)
ok grep -q "IP Address:127.0.0.1" <(openssl x509 -in "$tmp/pki/gateway.crt" -noout -ext subjectAltName)
ok grep -q "TLS Web Client Authentication" <(openssl x509 -in "$tmp/pki/hrss.crt" -noout -ext extendedKeyUsage)
for c in gateway mca hrss health cdpf; do
  ok grep -Eq '^public=.{40}$' "$tmp/pki/$c.curve"
  ok grep -Eq '^secret=.{40}$' "$tmp/pki/$c.curve"
done
# a second run keeps what exists
before=$(md5sum "$tmp/pki/ca.crt")
"$root/certs/dev-pki.sh" "$tmp/pki" 1310 >/dev/null 2>&1
ok test "$before" = "$(md5sum "$tmp/pki/ca.crt")"
# MSGW_PKI_DAYS: certificates that expire in 10 days (what the certificate gauges are tested with)
MSGW_PKI_DAYS=10 MSGW_CURVE_KEYGEN=$MSGW_CURVE_KEYGEN "$root/certs/dev-pki.sh" "$tmp/short" 12 >/dev/null 2>&1
ok openssl x509 -in "$tmp/short/gateway.crt" -noout -checkend $((10 * 86400 - 3600))
ok test "$(openssl x509 -in "$tmp/short/gateway.crt" -noout -checkend $((10 * 86400 + 3600)) >/dev/null; echo $?)" = 1
# certs/dev-crl.sh: a CRL of the CA that revokes nothing, then hrss, then mca too
P=$tmp/pki
ok "$root/certs/dev-crl.sh" "$P"
ok openssl crl -in "$P/ca.crl" -CAfile "$P/ca.crt" -noout
ok openssl verify -crl_check -CAfile "$P/ca.crt" -CRLfile "$P/ca.crl" "$P/hrss.crt"
ok "$root/certs/dev-crl.sh" "$P" --revoke hrss --days 7
ok test "$(openssl verify -crl_check -CAfile "$P/ca.crt" -CRLfile "$P/ca.crl" "$P/hrss.crt" 2>&1 | grep -c 'certificate revoked')" -ge 1
ok openssl verify -crl_check -CAfile "$P/ca.crt" -CRLfile "$P/ca.crl" "$P/mca.crt"
ok "$root/certs/dev-crl.sh" "$P" --revoke mca --revoke hrss --out "$tmp/both.crl"
ok test "$(openssl crl -in "$tmp/both.crl" -noout -text | grep -c 'Serial Number')" = 2
ok test "$(openssl verify -crl_check -CAfile "$P/ca.crt" -CRLfile "$tmp/both.crl" "$P/mca.crt" 2>&1 | grep -c 'certificate revoked')" -ge 1
# --expired: its nextUpdate passed (what a gateway does with it: docs/ingress.md, "Revocation")
ok "$root/certs/dev-crl.sh" "$P" --expired --out "$tmp/expired.crl"
next=$(openssl crl -in "$tmp/expired.crl" -noout -nextupdate | cut -d= -f2)
ok test "$(date -d "$next" +%s)" -lt "$(date +%s)"
ok test "$(openssl verify -crl_check -CAfile "$P/ca.crt" -CRLfile "$tmp/expired.crl" "$P/health.crt" 2>&1 | grep -c 'CRL has expired')" -ge 1
ok test -z "$(find "$P/crl" -name '*.key')" # its database holds no key
# the default output directory is ignored by git, and no key is tracked
ok git -C "$root" check-ignore -q certs/out/ca.key
ok test -z "$(git -C "$root" ls-files | grep -E '\.(key|pem|p12)$')"
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
