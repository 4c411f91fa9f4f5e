#!/usr/bin/env bash
# Create .venv (if missing) and install salmubench with exact pins from constraints.txt.
# Usage: bash scripts/setup.sh [extras]   e.g. bash scripts/setup.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-}
python3 -m venv .venv
spec="."
[[ -n $extras ]] && spec=".[$extras]"
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e "$spec"
