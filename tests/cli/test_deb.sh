#!/usr/bin/env bash
# The Debian package as an operator gets it (docs/package.md).  deploy/deb.sh builds it into OUTDIR
# (or finds it built from the same files), then it is unpacked with dpkg-deb -x into a temporary
# directory and checked there: the layout, /usr/share/msgw the same files as the build's, the
# conffile, the maintainer scripts, the hardened unit (systemd-analyze verify and its exposure), no
# private key; the unpacked msgw checks the installed catalogues and validates every department's
# sample documents against the installed dictionary and schemas (--schemas), and loads the default
# configuration; lintian reports no error.  Skipped (77) without debhelper, dpkg-dev or lintian.
#   test_deb.sh OUTDIR
out=${1:?usage: test_deb.sh OUTDIR}
for tool in dh:debhelper dpkg-buildpackage:dpkg-dev lintian:lintian; do
  if ! command -v "${tool%%:*}" >/dev/null; then
    echo "SKIP: ${tool%%:*} is not installed (Debian package ${tool#*:}; make test installs it)"
    exit 77
  fi
done
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
contains() { if grep -qxF -- "$2" "$1"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: no line '$2' in $1"; fi; }

SECONDS=0
if ! "$root/deploy/deb.sh" "$out"; then
  echo "FAIL: deploy/deb.sh $out"
  exit 1
fi
echo "package build (or reuse): $SECONDS s"
version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$root/meson.build")
deb=$out/msgw_${version}_$(dpkg --print-architecture).deb
ok test -f "$deb"

r=$tmp/root
dpkg-deb -x "$deb" "$r" && dpkg-deb -e "$deb" "$tmp/DEBIAN"
bin=$r/usr/bin/msgw share=$r/usr/share/msgw

# The layout: binaries, the data as the build made it, the configuration, the unit.
ok test -x "$bin"
ok test -x "$r/usr/bin/msgw-curve-keygen"
ok test -s "$r/usr/share/man/man1/msgw.1.gz"
# /usr/share/msgw holds the build's data, every file and no other: the dictionary, code lists,
# message specs and catalogues as in schemas/, the schemas as the build generated them.
(cd "$root/schemas" && printf '%s\n' ./*.json codelists/*.json messages/*.json catalogue/*.json
 cd "${MSGW_GENERATED:?}" && printf 'generated/%s\n' *.xsd *.json) | sed 's|^\./||' | sort >"$tmp/want"
(cd "$share" && find . -type f | sed 's|^\./||' | sort) >"$tmp/got"
ok diff "$tmp/want" "$tmp/got"
while read -r f; do
  case $f in generated/*) src=$MSGW_GENERATED/${f#generated/} ;; *) src=$root/schemas/$f ;; esac
  ok cmp -s "$src" "$share/$f"
done <"$tmp/want"
ok cmp "$root/deploy/msgw.json" "$r/etc/msgw/msgw.json"
contains "$tmp/DEBIAN/conffiles" /etc/msgw/msgw.json
ok test "$(dpkg-deb -f "$deb" Version)" = "$version"
ok test "$("$bin" version)" = "msgw $version"
ok grep -q 'adduser --system --group' "$tmp/DEBIAN/postinst"
ok grep -q '^Depends: .*adduser' "$tmp/DEBIAN/control"
# Nothing of the state, nothing of the operator's: no /var in the package, no key of any kind.
ok test ! -e "$r/var"
ok test ! -e "$r/etc/msgw/tls"
keys=$(grep -rlIE -e '-----BEGIN [A-Z ]*PRIVATE KEY-----' -e '^secret=' "$r" "$tmp/DEBIAN";
       find "$r" -name '*.key' -o -name '*.p12' -o -name '*.curve')
ok test -z "$keys"
[[ -z $keys ]] || echo "private keys in the package: $keys"

# The unit: deploy/msgw.service, hardened.
unit=$r/lib/systemd/system/msgw.service
ok cmp "$root/deploy/msgw.service" "$unit"
for line in User=msgw Group=msgw 'ExecStart=/usr/bin/msgw serve --config /etc/msgw/msgw.json' \
            StateDirectory=msgw ReadWritePaths=/var/lib/msgw ProtectSystem=strict NoNewPrivileges=yes \
            PrivateTmp=yes CapabilityBoundingSet= AmbientCapabilities= StandardError=journal; do
  contains "$unit" "$line"
done
ok test "$(grep -c '^ReadWritePaths=' "$unit")" -eq 1
if command -v systemd-analyze >/dev/null; then
  # verify looks for ExecStart's program on this machine: the unpacked one stands in for it.
  mkdir "$tmp/unit" && sed "s|/usr/bin/msgw|$bin|" "$unit" >"$tmp/unit/msgw.service"
  systemd-analyze verify "$tmp/unit/msgw.service" >"$tmp/verify" 2>&1
  ok test $? -eq 0 -a ! -s "$tmp/verify"
  cat "$tmp/verify"
  systemd-analyze security --offline=true "$unit" 2>/dev/null | tail -1 | tee "$tmp/exposure"
  ok grep -qE 'exposure level for msgw.service: [0-9.]+ (SAFE|OK)' "$tmp/exposure"
else
  echo "systemd-analyze is not installed: the unit is not verified"
fi

# The unpacked msgw against the installed paths.
"$bin" catalogue check --schemas "$share" tianjin langfang >"$tmp/check" 2>&1
ok test $? -eq 0
ok grep -qF "$share/catalogue/tianjin.json: ok: catalogue tianjin (region 12), 94 services" "$tmp/check"
ok grep -qF "$share/catalogue/langfang.json: ok: catalogue langfang (region 1310), 81 services" "$tmp/check"
d=$root/tests/data
for doc in mca:mca/roster-valid.xml hrss:hrss/batch-valid.json health:health/transaction-tianjin-langfang.json \
           cdpf:cdpf/certificate-events.xml cdpf:cdpf/roster-202610.csv canonical:canonical/roster.json; do
  "$bin" validate --schemas "$share" --quiet --from "${doc%%:*}" "$d/${doc#*:}" >"$tmp/v" 2>&1
  ok test $? -eq 0
  ok grep -qE ': [0-9]+ records?: [0-9]+ ok, 0 rejected$' "$tmp/v"
done
"$bin" validate --schemas "$share" --from mca "$d/mca/invalid-records.xml" >"$tmp/v" 2>&1
ok test $? -eq 1
ok grep -q 'rejected$' "$tmp/v"
"$bin" serve --check --config "$r/etc/msgw/msgw.json" >"$tmp/serve" 2>&1
ok test $? -eq 0
ok grep -qF "$r/etc/msgw/msgw.json: ok: region 12, catalogue tianjin" "$tmp/serve"
ok grep -qE '^public=.{40}$' <("$r/usr/bin/msgw-curve-keygen")

# lintian on the package itself, as a reviewer would run it (deploy/deb.sh judged it when it
# built it, perhaps in an earlier run): no error.
lintian --fail-on error "$deb" >"$tmp/lintian" 2>&1
ok test $? -eq 0
grep -E '^[EWI]: ' "$tmp/lintian"
echo "package test: $SECONDS s"
finish
