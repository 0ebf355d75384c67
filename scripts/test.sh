#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "offline-models,test,ray,compare,hf,report,tracking,vad" || exit 1
exec .venv/bin/python -m pytest -q --timeout=900 -p no:cacheprovider "$@"
