#!/usr/bin/env bash
# Create .venv and install speechbudget with the given extras (torch pinned to the CPU build 2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-offline-models}"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[${extras}]"
