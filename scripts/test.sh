#!/usr/bin/env bash
# Install everything the tests need on a fresh machine, then run lint, types and the whole suite.
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -k search  # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
export NO_MKDOCS_2_WARNING=1

if ! command -v chromium >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

if ! command -v pdflatex >/dev/null 2>&1; then
  echo "Installing Debian's pdflatex and bibtex for the BibTeX compile test..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq texlive-latex-base texlive-binaries >/dev/null
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "Installing Debian's npm for axe-core (the accessibility test)..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq npm >/dev/null
fi
# axe-core (package.json, package-lock.json) into node_modules/, git-ignored.
[ -f node_modules/axe-core/axe.min.js ] || npm ci --no-audit --no-fund --loglevel=error

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

.venv/bin/ruff check generator benchmarks tests
.venv/bin/ruff format --check generator benchmarks tests
.venv/bin/mypy
MYPYPATH=tests .venv/bin/mypy tests
.venv/bin/python -m pytest "$@"
