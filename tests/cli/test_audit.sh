#!/usr/bin/env bash
# `msgw audit` as an operator runs it, with the development PKI's gateway key (EC P-256):
# append and verify (exit 0), an edited entry and a deleted line reported with file, line and
# seq (exit 1), a prune that still verifies from its checkpoint, an unmasked ID number refused,
# usage and I/O errors (exit 2).
set -uo pipefail
root=${MSGW_SOURCE_ROOT:?}
msgw=${MSGW_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { # check NAME WANT_RC WANT_TEXT CMD...
  local name=$1 want=$2 text=$3 out rc
  shift 3
  out=$("$@" 2>&1)
  rc=$?
  if [[ $rc == "$want" && $out == *"$text"* ]]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL: $name: exit $rc (want $want), output: $out"; fi
}

"$root/certs/dev-pki.sh" "$tmp/pki" >/dev/null 2>&1
key=$tmp/pki/gateway.key cert=$tmp/pki/gateway.crt log=$tmp/log
add() { "$msgw" audit append --dir "$log" --key "$key" --cert "$cert" "$@"; }

check "append" 0 "recorded" add push '{"sender":"mca","request":"r-1","person":"120101********123X"}'
check "append admin" 0 "recorded" add admin '{"who":"admin.12","action":"manual redelivery"}'
check "append config" 0 "recorded" add config '{"file":"msgw.conf","sha256":"ab12"}'
check "verify ok" 0 "ok: " "$msgw" audit verify --dir "$log" --cert "$cert"
check "verify says where it starts" 0 "chain starts at seq 1" "$msgw" audit verify --dir "$log" --cert "$cert"
check "unmasked id refused" 1 "unmasked ID number" add push '{"person":"11010519491231002X"}'
check "bad kind" 1 "kind must be" add checkpoint '{}'
check "bad json" 2 "JSON must be an object" add push '[1]'

cp -r "$log" "$tmp/edited"
sed -i '2s/r-1/r-2/' "$tmp/edited/audit-000001.jsonl"
check "edited" 1 "entry 2 (audit-000001.jsonl line 2): hash does not match its content — edited" \
  "$msgw" audit verify --dir "$tmp/edited" --cert "$cert"

cp -r "$log" "$tmp/deleted"
sed -i '2d' "$tmp/deleted/audit-000001.jsonl"
check "deleted" 1 "seq jumps from 1 to 3 — an entry was deleted" \
  "$msgw" audit verify --dir "$tmp/deleted" --cert "$cert"

check "foreign cert" 1 "no checkpoint is signed with the certificate given" "$msgw" audit verify --dir "$log" --cert "$tmp/pki/mca.crt"
check "prune" 0 "segments removed" "$msgw" audit prune --dir "$log" --key "$key" --cert "$cert" --older-than-days 0
check "pruned verifies" 0 "chain starts at checkpoint" "$msgw" audit verify --dir "$log" --cert "$cert"
rm "$log"/audit-000001.jsonl 2>/dev/null
check "still verifies" 0 "ok: " "$msgw" audit verify --dir "$log" --cert "$cert"

check "no dir" 2 "cannot open directory" "$msgw" audit verify --dir "$tmp/none" --cert "$cert"
check "no cert" 2 "cannot read a PEM certificate" "$msgw" audit verify --dir "$log" --cert "$tmp/none.crt"
check "usage" 2 "Usage: msgw audit" "$msgw" audit verify --dir "$log"
check "unknown verb" 2 "Usage: msgw audit" "$msgw" audit frobnicate --dir "$log" --cert "$cert"
check "help" 0 "Usage: msgw audit" "$msgw" audit --help
check "listed" 0 "audit" "$msgw" --help
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
