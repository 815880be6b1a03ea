#!/usr/bin/env bash
# Installs the Python packages some tests run (tests/python/requirements.txt: the clients others
# wrote that our fakes must satisfy — Twilio's, OpenAI's, Google's auth library, two VoIP.ms
# clients — and moto_server for SQS and S3) into a virtual environment, once per version of that
# file, and prints the environment's python. Safe to run concurrently.
#
# Environment: PEDRO_PYTHON_VENV (default target/python-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
REQUIREMENTS="tests/python/requirements.txt"
VENV="${PEDRO_PYTHON_VENV:-$PWD/target/python-venv}"
STAMP="$VENV/.requirements"

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
if ! cmp -s "$REQUIREMENTS" "$STAMP" 2>/dev/null || [ ! -x "$VENV/bin/python" ]; then
    echo "python-deps: installing $REQUIREMENTS into $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
    cp "$REQUIREMENTS" "$STAMP"
fi
echo "$VENV/bin/python"
