# Shared by the process tests (source it first): a temporary directory removed on exit with every
# process started into pids (and the daemon in pid), ok CMD... counting passes and failures, and
# wait_file.
# shellcheck shell=bash
set -uo pipefail
msgw=${MSGW_BIN:?}
root=${MSGW_SOURCE_ROOT:?}
tmp=$(mktemp -d)
pids=() pid=
cleanup() {
	for p in "${pids[@]}" $pid; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
pass=0 fail=0
ok() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }
wait_file() { for _ in $(seq 100); do [[ -s $1 ]] && return 0; sleep 0.1; done; return 1; }
# the summary line and the exit status
finish() { echo "$pass passed, $fail failed"; [[ $fail -eq 0 ]]; }
