#!/usr/bin/env bash
# Installs the Python packages the tests use (tests/python/requirements.txt): third-party VoIP.ms
# clients that check the fake VoIP.ms from the outside.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
