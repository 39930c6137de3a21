#!/bin/sh
# Rewrite hub/constraints.txt: the exact versions of this checkout's tested environment
# (.venv, after `make test`), without the kit itself and the test-only tools.
set -e
cd "$(dirname "$0")/.."
{
  echo "# Written by tools/hub_lock.sh from the environment the tests passed in; do not edit."
  .venv/bin/pip freeze --exclude-editable --disable-pip-version-check 2>/dev/null |
    grep -v -i -E '^(pytest|nbval|ruff|playwright|pluggy|iniconfig|greenlet|pyee|nbgrader|alembic|sqlalchemy|mako|rapidfuzz|tbptt-kit)[=@ ]'
} > hub/constraints.txt
echo "hub/constraints.txt: $(grep -c '==' hub/constraints.txt) packages pinned"
