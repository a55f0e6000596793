#!/usr/bin/env bash
# Runs one benchmark command in two built trees, alternating run by run, so that load on this
# noisy machine hits both alike. Prints each run's output lines that match PATTERN, tagged.
#
#   bench/ab.sh OLD_TREE NEW_TREE RUNS PATTERN -- COMMAND...
#   bench/ab.sh /work/wt/old . 5 '^4 KiB  memfd-pool ' -- taskset -c 1 node --expose-gc dist/bench/run.js --quick --only=dispatch --sizes=4k
#
# A tree is a checkout with its addon built and `npm run build` done (git worktree add DIR COMMIT).
set -euo pipefail
if [ "$#" -lt 6 ] || [ "$5" != "--" ]; then
  sed -n '2,8p' "$0" >&2
  exit 2
fi
old=$(cd "$1" && pwd); new=$(cd "$2" && pwd); runs=$3; pattern=$4; shift 5
for i in $(seq "$runs"); do
  for tree in "$old" "$new"; do
    tag=old; [ "$tree" = "$new" ] && tag=new
    (cd "$tree" && "$@" 2>&1) | grep -E -- "$pattern" | sed "s|^|$tag $i: |" || true
  done
done
