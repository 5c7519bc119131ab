#!/usr/bin/env bash
# The development CA's certificate revocation list (CRL), for trying and testing revocation
# (docs/ingress.md, "Revocation"): revokes certificates of a development PKI made by
# certs/dev-pki.sh and writes the CA's CRL in PEM.
#
#   certs/dev-crl.sh PKI_DIR [--revoke NAME]... [--days N | --expired] [--out FILE]
#
#   --revoke NAME  revoke PKI_DIR/NAME.crt (mca, hrss, gateway, …); revoking it again changes nothing
#   --days N       the CRL's nextUpdate N days from now (default 30)
#   --expired      a CRL whose nextUpdate passed yesterday: what the gateway does with one
#   --out FILE     where to write it (default PKI_DIR/ca.crl)
#
# What has been revoked is kept in an `openssl ca` database under PKI_DIR/crl/, so each run writes
# a CRL listing every certificate revoked so far. Nothing private is written: the CA's key is read
# from PKI_DIR (development only, like the rest of the development PKI).
set -euo pipefail
usage() { sed -n '5,11p' "$0" >&2; exit 2; }
[[ $# -ge 1 && $1 != -* ]] || usage
pki=$1
shift
days=30 expired= out=$pki/ca.crl revoke=()
while [[ $# -gt 0 ]]; do
  case $1 in
  --revoke) revoke+=("${2:?--revoke NAME}"); shift 2 ;;
  --days) days=${2:?--days N}; shift 2 ;;
  --expired) expired=1; shift ;;
  --out) out=${2:?--out FILE}; shift 2 ;;
  *) usage ;;
  esac
done
[[ -f $pki/ca.crt && -f $pki/ca.key ]] || { echo "dev-crl: $pki has no ca.crt and ca.key (certs/dev-pki.sh makes them)" >&2; exit 1; }

db=$pki/crl
mkdir -p "$db"
[[ -f $db/index.txt ]] || : >"$db/index.txt"
[[ -f $db/index.txt.attr ]] || echo "unique_subject = no" >"$db/index.txt.attr"
[[ -f $db/crlnumber ]] || echo 1000 >"$db/crlnumber"
cat >"$db/openssl.cnf" <<CNF
[ ca ]
default_ca = dev
[ dev ]
database = $db/index.txt
crlnumber = $db/crlnumber
certificate = $pki/ca.crt
private_key = $pki/ca.key
default_md = sha256
crl_extensions = crl_ext
[ crl_ext ]
authorityKeyIdentifier = keyid
CNF

for name in "${revoke[@]}"; do
  crt=$pki/$name.crt
  [[ -f $crt ]] || { echo "dev-crl: no certificate $crt" >&2; exit 1; }
  serial=$(openssl x509 -in "$crt" -noout -serial | cut -d= -f2)
  # already revoked: the database says R for its serial
  awk -F'\t' -v s="$serial" '$1 == "R" && $4 == s { found = 1 } END { exit !found }' "$db/index.txt" && continue
  openssl ca -config "$db/openssl.cnf" -revoke "$crt" -crl_reason keyCompromise 2>/dev/null
done

when=(-crldays "$days")
[[ -n $expired ]] && when=(-crl_lastupdate "$(date -u -d '-8 days' +%Y%m%d%H%M%SZ)"
  -crl_nextupdate "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)")
openssl ca -config "$db/openssl.cnf" -gencrl "${when[@]}" -out "$out.tmp" 2>/dev/null
mv "$out.tmp" "$out" # whole: a gateway reloading meanwhile never reads half a CRL
echo "dev-crl: $out: $(grep -c '^R' "$db/index.txt" || true) revoked, next update $(openssl crl -in "$out" -noout -nextupdate | cut -d= -f2)"
