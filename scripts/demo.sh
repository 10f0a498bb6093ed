#!/usr/bin/env bash
# Set up zhplm and run the main job on a small model: search → download → convert + verify → fill-mask and
# similarity. Without the hub (no network, ZHPLM_OFFLINE=1) it says so in one line and runs the same path on a
# BERT it makes here in an original release format. Extra arguments go to `zhplm demo` (e.g. --offline).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/zhplm demo "$@"
