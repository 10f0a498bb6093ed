#!/usr/bin/env bash
# Create the project environments (idempotent; re-installs only when the requirements changed).
#   .venv      zhplm with every extra and the test tools (PyTorch CPU build)
#   .venv-ref  --ref: the test-only reference implementations (TensorFlow, transformers 4.x, …)
#              that parity tests run as independent oracles; they clash with ours, so they live apart.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
want_ref=0
for a in "$@"; do [ "$a" = "--ref" ] && want_ref=1; done

stamp() { sha256sum "$@" | sha256sum | cut -c1-16; }

main_stamp=$(stamp pyproject.toml scripts/setup.sh)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.zhplm-stamp 2>/dev/null)" != "$main_stamp" ]; then
  echo "== setting up .venv" >&2
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  # The CPU build of PyTorch first: an unpinned torch would pull a multi-GB CUDA build.
  .venv/bin/python -m pip install -q torch==2.13.0
  .venv/bin/python -m pip install -q -e ".[dev]"
  echo "$main_stamp" > .venv/.zhplm-stamp
fi

# The catalog page's browser test drives the OS's chromium (and needs a CJK font to render the page).
# Installed when root with apt-get; elsewhere that one test is skipped with its reason.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-wqy-zenhei >/dev/null 2>&1; then
    echo "== installing chromium + a CJK font (browser test of the catalog page)" >&2
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-wqy-zenhei >/dev/null
  fi
fi

if [ "$want_ref" = 1 ]; then
  ref_stamp=$(stamp scripts/setup.sh tests/oracles/requirements*.txt)
  if [ ! -x .venv-ref/bin/python ] || [ "$(cat .venv-ref/.zhplm-stamp 2>/dev/null)" != "$ref_stamp" ]; then
    echo "== setting up .venv-ref (reference implementations for parity tests)" >&2
    [ -x .venv-ref/bin/python ] || "$PY" -m venv .venv-ref
    .venv-ref/bin/python -m pip install -q --upgrade pip
    .venv-ref/bin/python -m pip install -q torch==2.13.0
    .venv-ref/bin/python -m pip install -q -r tests/oracles/requirements.txt
    # one extra file per group of oracles; *-nodeps.txt are installed without their declared
    # dependencies (packages whose pins would drag in CUDA torch or torchvision).
    for f in tests/oracles/requirements-*.txt; do
      [ -e "$f" ] || continue
      case "$f" in
        *-nodeps.txt) .venv-ref/bin/python -m pip install -q --no-deps -r "$f" ;;
        *) .venv-ref/bin/python -m pip install -q -r "$f" ;;
      esac
    done
    echo "$ref_stamp" > .venv-ref/.zhplm-stamp
  fi
fi
