#!/usr/bin/env bash
# Installs whatever is missing, then runs every test. The one command CI runs (.ci/run).
#
# Steps come from two folders, run in name order, so each capability owns its own file:
#   scripts/setup.d/*.sh  install tools and packages (idempotent; skip what is present)
#   scripts/test.d/*.sh   run one group of tests each; any failure fails the run
set -euo pipefail
cd "$(dirname "$0")/.."
# No step reads stdin.
exec </dev/null
export CARGO_TERM_COLOR=never
start=$(date +%s)
passed=0
failed=0
run_dir() {
  local kind=$1
  for step in scripts/"$kind".d/*.sh; do
    [ -e "$step" ] || continue
    local t0=$(date +%s)
    echo "::: $kind: $step"
    if bash "$step"; then
      echo "::: $kind: $step ok ($(( $(date +%s) - t0 ))s)"
      if [ "$kind" = test ]; then passed=$((passed + 1)); fi
    else
      echo "::: $kind: $step FAILED ($(( $(date +%s) - t0 ))s)"
      if [ "$kind" = setup ]; then exit 1; fi
      failed=$((failed + 1))
    fi
  done
}
run_dir setup
run_dir test
echo "::: total $(( $(date +%s) - start ))s"
echo "test groups: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
