#!/usr/bin/env bash
# The layers checker (tools/check_layers.py) refuses what it must: a miniature tree whose base
# layer includes an engine header, and a private header of another folder, named file by file.
set -uo pipefail
root=${MSGW_SOURCE_ROOT:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }
mkdir -p "$tmp/gateway/base" "$tmp/gateway/engine" "$tmp/include/msgw/base" "$tmp/include/msgw/engine"
printf 'base gateway/base\nengine gateway/engine\n' >"$tmp/gateway/LAYERS"
echo '#include "msgw/base/date.h"' >"$tmp/gateway/engine/rules.c"
touch "$tmp/include/msgw/base/date.h" "$tmp/include/msgw/engine/eligibility.h" "$tmp/gateway/engine/rules_internal.h"
python3 "$root/tools/check_layers.py" --root "$tmp" >"$tmp/out"
ok test $? -eq 0
echo '#include "msgw/engine/eligibility.h"' >"$tmp/gateway/base/date.c"
echo '#include "../engine/rules_internal.h"' >>"$tmp/gateway/base/date.c"
python3 "$root/tools/check_layers.py" --root "$tmp" >"$tmp/out"
ok test $? -eq 1
ok grep -q 'gateway/base/date.c includes msgw/engine/eligibility.h: layer engine is above' "$tmp/out"
ok grep -q 'gateway/base/date.c includes ../engine/rules_internal.h: a private header of another folder' "$tmp/out"
cat "$tmp/out"
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
