#!/usr/bin/env bash
# Development PKI for msgw: a CA, the gateway's server certificate, one client certificate per
# department (and one for an administrator), and CURVE key pairs for ZeroMQ.
#
#   certs/dev-pki.sh [OUT_DIR] [REGION]      (defaults: certs/out, 12 = Tianjin)
#   MSGW_PKI_DAYS=10 certs/dev-pki.sh DIR    certificates valid 10 days (default 825; the CA 3650)
#
# Certificates say who the client is: O = the region's GB/T 2260 prefix, OU = the department
# (mca, hrss, health, cdpf, admin), CN = department.region.msgw.local. Keys are written with mode
# 0600 into OUT_DIR, which git ignores: a private key is never committed. Re-running keeps what
# exists (delete OUT_DIR to start over). Development only: the CA key sits next to the
# certificates it signed. certs/dev-crl.sh revokes its certificates and writes the CA's CRL.
set -euo pipefail
out=${1:-$(dirname "$0")/out}
region=${2:-12}
days=${MSGW_PKI_DAYS:-825}
mkdir -p "$out"
chmod 700 "$out"
umask 077

key() { [[ -f $1 ]] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

if [[ ! -f $out/ca.crt ]]; then
  key "$out/ca.key"
  openssl req -x509 -new -key "$out/ca.key" -sha256 -days 3650 -out "$out/ca.crt" \
    -subj "/O=$region/OU=msgw/CN=msgw development CA $region" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
fi

# issue NAME SUBJECT EXTENSIONS...
issue() {
  local name=$1 subj=$2
  shift 2
  [[ -f $out/$name.crt ]] && return 0
  key "$out/$name.key"
  local ext
  ext=$(mktemp)
  printf '%s\n' "$@" > "$ext"
  openssl req -new -key "$out/$name.key" -subj "$subj" -out "$out/$name.csr"
  openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
    -days "$days" -sha256 -extfile "$ext" -out "$out/$name.crt" 2>/dev/null
  rm -f "$out/$name.csr" "$ext"
}

issue gateway "/O=$region/OU=gateway/CN=gateway.$region.msgw.local" \
  "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth,clientAuth" \
  "subjectAltName=DNS:localhost,DNS:gateway.$region.msgw.local,IP:127.0.0.1,IP:::1"
for dept in mca hrss health cdpf admin; do
  issue "$dept" "/O=$region/OU=$dept/CN=$dept.$region.msgw.local" \
    "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" "extendedKeyUsage=clientAuth"
done

# CURVE key pairs (Z85) for the ZeroMQ ingress and each department's ZeroMQ client, made by
# tools/curve_keygen.c (MSGW_CURVE_KEYGEN, or the one in build/).
keygen=${MSGW_CURVE_KEYGEN:-$(dirname "$0")/../build/tools/msgw-curve-keygen}
if [[ -x $keygen ]]; then
  for name in gateway mca hrss health cdpf admin; do
    [[ -f $out/$name.curve ]] || "$keygen" > "$out/$name.curve"
  done
else
  echo "dev-pki: $keygen not built: no CURVE keys written (ninja -C build)" >&2
fi
chmod 600 "$out"/*.key "$out"/*.curve 2>/dev/null || true
echo "dev-pki: $out: CA, gateway and department certificates for region $region"
