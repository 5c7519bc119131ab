#!/usr/bin/env bash
# `make deb`: builds msgw_<version>_<arch>.deb with debhelper (debian/) out of tree, then checks it
# with lintian (docs/package.md).
#
#   deploy/deb.sh OUTDIR
#
# The checkout is never written: dpkg-buildpackage writes its products beside the tree it builds
# and debhelper its work inside it, so the source — what git tracks and would track, uncommitted
# edits included, ignored build directories not — is copied to OUTDIR/src/msgw-<version> and
# built there; the .deb, .buildinfo and .changes are moved up to OUTDIR, the log kept in
# OUTDIR/build.log and lintian's report in OUTDIR/lintian.txt.  A package built from the same
# files with the same DEB_BUILD_OPTIONS is kept (OUTDIR/source.sha256), so `make test` pays for one
# build per change.  Exit status: 0 built (or up to date) and lintian reports no error, 1 not.
#
# DEB_BUILD_OPTIONS defaults to "nocheck parallel=2": make test has run the tests already.
set -euo pipefail
out=${1:?usage: deploy/deb.sh OUTDIR}
root=$(cd "$(dirname "$0")/.." && pwd)
export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-nocheck parallel=2}
version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$root/meson.build")
deb=msgw_${version}_$(dpkg --print-architecture).deb
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$out/src/msgw-$version

# The source tree as git sees it (without git, or a checkout git will not read as this user:
# everything but build directories and what .gitignore names).
rm -rf "$out/src" && mkdir -p "$src"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$root" ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [[ -e $root/$f ]] && printf '%s\0' "$f"; done |
    tar -C "$root" --null -T - -cf - | tar -C "$src" -xf -
else
  tar -C "$root" --exclude='./build*' --exclude-vcs --exclude-vcs-ignores -cf - . | tar -C "$src" -xf -
fi
key=$({ (cd "$src" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
        echo "DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS"; } | sha256sum | cut -d' ' -f1)

if [[ -f $out/$deb && -f $out/lintian.txt && $(cat "$out/source.sha256" 2>/dev/null) == "$key" ]]; then
  echo "deb: $out/$deb is up to date (built from these files)"
else
  rm -f "$out"/*.deb "$out"/*.buildinfo "$out"/*.changes "$out/source.sha256" "$out/lintian.txt"
  echo "deb: building $deb in $src (DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS; log in $out/build.log)"
  start=$(date +%s)
  if ! (cd "$src" && dpkg-buildpackage -b -us -uc) >"$out/build.log" 2>&1; then
    tail -40 "$out/build.log"
    echo "deb: dpkg-buildpackage failed (the whole log: $out/build.log)"
    exit 1
  fi
  mv "$out"/src/*.deb "$out"/src/*.buildinfo "$out"/src/*.changes "$out"/
  echo "deb: built $out/$deb in $(($(date +%s) - start)) s"
  # Errors fail the build; warnings and the rest are shown.  Overrides are in
  # debian/msgw.lintian-overrides, each with its reason.
  lintian --fail-on none --display-info "$out/$deb" >"$out/lintian.txt" 2>&1 || true
  echo "$key" >"$out/source.sha256"
fi
rm -rf "$out/src"

summary=$(cut -c1 "$out/lintian.txt" | grep -E '^[EWIPX]$' | sort | uniq -c | tr -s ' \n' ' ' || true)
echo "deb: lintian: ${summary:-nothing to report} (E error, W warning, I info, P pedantic, X experimental)"
grep -E '^[EW]: ' "$out/lintian.txt" || true
if grep -q '^E: ' "$out/lintian.txt"; then
  echo "deb: lintian reports errors: $out/lintian.txt"
  exit 1
fi
