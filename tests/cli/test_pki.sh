#!/usr/bin/env bash
# certs/dev-pki.sh: a CA, a server and department certificates that verify, say who they are,
# keys readable only by their owner, CURVE key pairs, and nothing of it tracked by git.
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
# the default output directory is ignored by git, and no key is tracked
ok git -C "$root" check-ignore -q certs/out/ca.key
ok test -z "$(git -C "$root" ls-files | grep -E '\.(key|pem|p12)$')"
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
