#!/usr/bin/env bash
# docs/openapi.yaml against the gateway, both ways (issue 17 §2): tests/openapi/check.py validates
# the document (OpenAPI 3.1 schema, references, path parameters), compares its routes with
# `msgw routes`, then sends every documented operation to a daemon running all three HTTPS
# listeners — the departments' ingress, the peering listener (a Hebei gateway's certificate) and
# the administrators' — and checks each answer's status and body against the document.  The
# dashboard links to the document, which the administrators' listener serves.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c 'import yaml, jsonschema' 2>/dev/null ||
	{ echo "SKIP: python3-yaml or python3-jsonschema is not installed (the Makefile's DEBIAN_PACKAGES)"; exit 77; }
P=$tmp/pki H=$tmp/hebei
"$root/certs/dev-pki.sh" "$P" 12 >/dev/null 2>&1
"$root/certs/dev-pki.sh" "$H" 13 >/dev/null 2>&1
mkdir -p "$tmp/data"
cat >"$tmp/msgw.json" <<JSON
{ "region": "12", "catalogue": "tianjin", "data_dir": "$tmp/data",
  "tls": { "ca": "$P/ca.crt", "cert": "$P/gateway.crt", "key": "$P/gateway.key" },
  "https": { "listen": "127.0.0.1:0" },
  "peering": { "listen": "127.0.0.1:0" },
  "admin": { "listen": "127.0.0.1:0" },
  "audit": { "dir": "$tmp/data/audit" },
  "departments": [
    { "id": "mca", "certificate": { "organization": "12", "unit": "mca" }, "push": ["household_assistance_roster"] } ],
  "peers": [ { "id": "hebei", "region": "13", "url": "https://127.0.0.1:9", "ca": "$H/ca.crt",
               "kinds": ["disability_certificate"], "fields": ["id_number", "disability_category"] } ] }
JSON
"$msgw" serve --config "$tmp/msgw.json" --port-file "$tmp/port" 2>"$tmp/log" &
pid=$!
wait_file "$tmp/port.admin" && wait_file "$tmp/port.peering" || { tail "$tmp/log"; exit 1; }
echo '{}' >"$tmp/envelope.json"
cat >"$tmp/live.json" <<JSON
{ "https": { "port": $(cat "$tmp/port"), "ca": "$P/ca.crt", "cert": "$P/mca.crt", "key": "$P/mca.key",
             "body": "$root/tests/data/mca/roster-valid.xml", "media_type": "application/vnd.msgw.mca.roster+xml" },
  "peering": { "port": $(cat "$tmp/port.peering"), "ca": "$P/ca.crt", "cert": "$H/gateway.crt", "key": "$H/gateway.key",
               "body": "$tmp/envelope.json", "media_type": "application/vnd.msgw.envelope+json" },
  "admin": { "port": $(cat "$tmp/port.admin"), "ca": "$P/ca.crt", "cert": "$P/admin.crt", "key": "$P/admin.key" } }
JSON
ok /usr/bin/python3 "$root/tests/openapi/check.py" "$msgw" "$root/docs/openapi.yaml" "$MSGW_GENERATED" --live "$tmp/live.json"
admin_get() { curl -s --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" "https://localhost:$(cat "$tmp/port.admin")$1"; }
ok cmp -s <(admin_get /openapi.yaml) "$root/docs/openapi.yaml" # the one it was built with
ok grep -q 'href="/openapi.yaml"' <(admin_get /)               # the dashboard links to it
ok cmp -s <(admin_get /schemas/generated/hrss.schema.json) "$MSGW_GENERATED/hrss.schema.json"
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
pid=
finish
