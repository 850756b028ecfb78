#!/usr/bin/env bash
# The test command of the README: set-up, then the whole pytest suite.
# pytest's "no tests collected" (exit 5) is a failure here, never a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
python3 -m pytest -q tests "$@"
rc=$?
if [ $rc -eq 5 ]; then
    echo "test.sh: pytest collected no tests" >&2
    exit 1
fi
exit $rc
