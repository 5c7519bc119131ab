#!/usr/bin/env bash
# The store's disk failing under load (docs/faults.md): four senders push new persons continuously
# (tests/cli/push_load.py, five records a request, each request one batch) while the fault shim
# (tests/shim/fault_shim.c, LD_PRELOAD, no root) makes the store's files fail:
#  1. fsync EIO: the senders get 503 store.unavailable with Retry-After, /readyz names the store,
#     the failure is logged once and counted; lifted, the gateway commits again by itself — 202s,
#     /readyz ready — without a restart;
#  2. write ENOSPC (a full disk): the same; the senders stop while the disk is full, and once it is
#     freed /readyz turns ready with no push at all (the gateway tries the store every second);
#  3. stopped with SIGTERM: every record answered 202 is stored exactly once, every request is
#     stored whole or not at all, and the engine that lived through the faults holds the verdicts
#     the store holds as notified and that a fresh rebuild (a restart) holds;
#  4. fsync EIO again under load, and the daemon killed with SIGKILL while it fails: restarted,
#     the same holds — a batch answered 503 may be there after all (its commit reached the disk
#     though its sync failed), but whole, and a retry of it is answered as a duplicate.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=faults_lib.sh
source "$(dirname "$0")/faults_lib.sh"
health_gateway 200
store=$tmp/data/msgw.db # the prefix the faults are injected under: the database, its WAL and shm
store_check() { [[ $(get /readyz) == 503 ]] && has '[c for c in d["checks"] if c["name"] == "store"][0]["ok"] is False'; }
check=$root/tests/cli/faults_check.py
engine() { python3 "$check" engine "$1" "$store" "localhost:$port" "$P/ca.crt" "$P/health.crt" "$P/health.key" "$2"; }

start
load "$tmp/load1.log" 0
ok more "$tmp/load1.log" 20 202

# 1. fsync fails with EIO
control fsync EIO "$store"
ok more "$tmp/load1.log" 1 503 store.unavailable
ok store_check
ok has '"commit failed" in [c for c in d["checks"] if c["name"] == "store"][0]["detail"]'
ok test "$(injected fsync)" -gt 0
ok test "$(metric 'msgw_failures_total{component="store"}')" -gt 0
ok grep -q '"msg":"a group of pushes could not be committed: answered 503, engine undone.*disk I/O error' "$tmp/log"
control
ok more "$tmp/load1.log" 20 202 # by itself, under the same load
ok ready
ok grep -q '"msg":"the store commits again"' "$tmp/log"

# 2. the disk is full: every write fails with ENOSPC; the senders stop meanwhile
control write ENOSPC "$store"
ok more "$tmp/load1.log" 1 503 store.unavailable
ok store_check
ok test "$(injected write)" -gt 0
ok grep -q 'database or disk is full' "$tmp/log"
unload
ok store_check
control
ok ready # no push: the gateway tried the store itself
ok test "$(grep -c '"msg":"the store commits again"' "$tmp/log")" = 2
ok test "$(grep -c '"msg":"a group of pushes could not be committed' "$tmp/log")" = 2 # once per fault
ok retry_after "$tmp/load1.log"

# 3. the engine that lived through the faults, the store, and a fresh rebuild agree
ok engine "$tmp/load1.log" "$tmp/verdicts.running"
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
ok python3 "$check" store "$tmp/load1.log" "$store"
start
ok engine "$tmp/load1.log" "$tmp/verdicts.rebuilt"
ok python3 "$check" same "$tmp/verdicts.running" "$tmp/verdicts.rebuilt"

# 4. killed while fsync fails
load "$tmp/load2.log" 4
ok more "$tmp/load2.log" 20 202
control fsync EIO "$store"
ok more "$tmp/load2.log" 4 503 store.unavailable
kill -KILL "$pid"
wait "$pid" 2>/dev/null
unload
control
start
cat "$tmp/load1.log" "$tmp/load2.log" >"$tmp/loads.log"
ok python3 "$check" store "$tmp/loads.log" "$store"
ok engine "$tmp/loads.log" "$tmp/verdicts.killed"
ok ready
ok test "$(get /v1/audit/verify)" = 200
kill -TERM "$pid"
wait "$pid"
ok test $? -eq 0
pid=
finish
