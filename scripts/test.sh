#!/usr/bin/env bash
# The README's test command: set up .venv on a fresh machine if needed (the README's own
# install line: the test extra holds what the tests need), then run pytest.
# torch==2.13.0 comes first: it is the CPU build; any looser spec pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch==2.13.0
  "$VENV/bin/pip" install -q -e ".[test,vectors,plot]"
fi
exec "$VENV/bin/python" -m pytest -q "$@"
