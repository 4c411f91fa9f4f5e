#!/usr/bin/env bash
# Install everything the tests need (venv, pinned packages, headless Chromium) and run them all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
if [[ -f scripts/install_chromium.sh ]]; then bash scripts/install_chromium.sh; fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 CUDA_VISIBLE_DEVICES=""
.venv/bin/python -m pytest -q "$@"
