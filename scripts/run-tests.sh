#!/usr/bin/env bash
# Runs node's test runner over the given test files (globs expanded here: node 20 does not),
# from source (the "source" export condition), one file at a time so namespaces never collide.
set -uo pipefail
cd "$(dirname "$0")/.."
shopt -s globstar nullglob
export TSX_TSCONFIG_PATH="$PWD/tsconfig.test.json"
# Node.js reads and parses NODE_EXTRA_CA_CERTS's whole bundle at every process start (60 ms of
# CPU each where a shell sets it, as on the bench machine); no test trusts the system's CAs.
unset NODE_EXTRA_CA_CERTS
files=()
for pattern in "$@"; do
  for f in $pattern; do files+=("$f"); done
done
if [ ${#files[@]} -eq 0 ]; then
  echo "run-tests: no test files match: $*" >&2
  exit 1
fi
# Piped (as in CI) node's runner prints TAP, closing with "# pass N" / "# fail N".
# A test that hangs fails after 5 minutes, naming itself, instead of eating CI's whole budget.
# No --test-force-exit: on Linux it can drop a file's results still in the pipe to the runner
# (nodejs/node#64833), which failed whole files here now and then; every file exits on its own.
exec node --conditions=source --import tsx --test --test-concurrency=1 --test-timeout=300000 "${files[@]}"
