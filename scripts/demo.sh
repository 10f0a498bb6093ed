#!/usr/bin/env bash
# Set up zhplm and run the main job: explore the catalog (search, then one model's details).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/zhplm search "${1:-法律}"
.venv/bin/zhplm info "${2:-macbert-base}"
