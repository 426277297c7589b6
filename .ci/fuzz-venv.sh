#!/usr/bin/env bash
# Installs the API fuzzer (schemathesis, pinned with its dependencies in
# .ci/fuzz-requirements.txt) into the virtual environment .bin/fuzz-venv,
# for systemtest/fuzz_test.go. Does nothing when the environment already
# holds exactly these pins. Needs python3 with its venv module (Debian:
# python3-venv; .ci/run installs it) and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.bin/fuzz-venv
req=.ci/fuzz-requirements.txt
if [ -x "$venv/bin/schemathesis" ] && cmp -s "$req" "$venv/requirements.txt"; then
  exit 0
fi
echo "installing schemathesis into $venv"
python3 -m venv --clear "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req"
cp "$req" "$venv/requirements.txt"
"$venv/bin/schemathesis" --version
