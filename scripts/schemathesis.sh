#!/usr/bin/env bash
# Fuzzes the running API against shared/openapi.json with Schemathesis: no 5xx, and every
# response's status, content type, headers and body as the document says.
#
# Builds `pedro`, starts `pedro serve` in sandbox mode (no carrier credentials: nothing is sent) on
# a free port with its own private Postgres in a temporary PEDRO_DATA_DIR, runs Schemathesis, stops
# the server with SIGTERM and exits non-zero on any failure.
#
# Environment: MAX_EXAMPLES (25 per operation), MAX_TIME (300 s for the whole run), SEED (random),
# REPORT_DIR (where the JUnit and NDJSON reports go; default a temporary directory, kept).
set -euo pipefail

cd "$(dirname "$0")/.."
MAX_EXAMPLES="${MAX_EXAMPLES:-25}"
MAX_TIME="${MAX_TIME:-300}"
REPORT_DIR="${REPORT_DIR:-$(mktemp -d -t pedro-schemathesis-report.XXXXXX)}"

if ! command -v st >/dev/null 2>&1 || ! python3 -c 'import schemathesis' >/dev/null 2>&1; then
    echo "schemathesis: installing from PyPI" >&2
    python3 -m pip install --quiet schemathesis
fi
ST="$(command -v st || true)"
if [ -z "$ST" ]; then
    ST="$(python3 -c 'import sys, os; print(os.path.join(os.path.dirname(sys.executable), "st"))')"
fi
echo "schemathesis: $("$ST" --version 2>&1 | head -1)" >&2

cargo build --quiet -p pedro-cli --bin pedro
PEDRO="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/debug/pedro"

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
DATA_DIR="$(mktemp -d -t pedro-schemathesis.XXXXXX)"
# The private Postgres runs as the postgres user when we are root: it must reach its directory.
chmod 755 "$DATA_DIR"
LOG="$DATA_DIR/serve.log"

SERVE_ARGS=(serve --port "$PORT")
# Authentication is being added: where `serve` has a switch to run without it, use it.
if "$PEDRO" serve --help 2>&1 | grep -q -- '--insecure-no-auth'; then
    SERVE_ARGS+=(--insecure-no-auth)
    echo "schemathesis: serving with --insecure-no-auth" >&2
fi

SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        for _ in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "schemathesis: pedro did not stop on SIGTERM; killing it" >&2
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
    # Whatever happened to pedro, leave no Postgres behind.
    local pid_file
    pid_file="$(find "$DATA_DIR" -name postmaster.pid 2>/dev/null | head -1)"
    if [ -n "$pid_file" ]; then
        local pg_ctl
        pg_ctl="$(command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | head -1)"
        if [ "$(id -u)" = 0 ]; then
            runuser -u postgres -- "$pg_ctl" -D "$(dirname "$pid_file")" stop -m fast >/dev/null 2>&1 || true
        else
            "$pg_ctl" -D "$(dirname "$pid_file")" stop -m fast >/dev/null 2>&1 || true
        fi
    fi
    rm -rf "$DATA_DIR"
}
trap stop_server EXIT

# Sandbox mode on its own database: no credentials or database of the caller's environment.
# The call endpoints are fuzzed so too, on purpose without VoIP.ms and with no call history:
# `POST /api/voip/sync` answers its documented 409 `voipms_not_configured` (no carrier is ever
# called), the history answers empty pages, and a call's recordings, a recording's download link
# and `DELETE /api/voip/calls/{id}` answer 404 (Schemathesis warns that they "repeatedly returned
# 404": expected), so the fuzzer's DELETEs destroy nothing and no check needs excluding. Their
# answers with data (calls, recordings, links, sync reports, deletions, and their 409/410/422/502
# errors) are checked against the same document by tests/integration/openapi.rs, on the fake VoIP.ms.
env -u DATABASE_URL -u VOIPMS_USERNAME -u VOIPMS_PASSWORD -u VOIPMS_DID -u WEBHOOK_SECRET \
    -u TWILIO_ACCOUNT_SID -u TWILIO_AUTH_TOKEN -u TWILIO_FROM_NUMBER -u TWILIO_WEBHOOK_URL -u PORT \
    PEDRO_DATA_DIR="$DATA_DIR/pedro" RUST_LOG="${RUST_LOG:-warn}" \
    RATE_SEND_PER_MINUTE=1000000 RATE_SEND_PER_NUMBER_PER_DAY=1000000 \
    RATE_WEBHOOK_PER_MINUTE=1000000 RATE_CONFIGURE_PER_HOUR=1000000 \
    "$PEDRO" "${SERVE_ARGS[@]}" >"$LOG" 2>&1 &
SERVER_PID=$!

BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 300); do
    if curl -fsS "$BASE/health" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "schemathesis: pedro serve exited early:" >&2
        cat "$LOG" >&2
        exit 1
    fi
    sleep 0.2
done
curl -fsS "$BASE/health" >/dev/null || { echo "schemathesis: no /health after 60 s" >&2; cat "$LOG" >&2; exit 1; }

# The document the server serves; the checked-in one while the server does not serve it.
if curl -fsS "$BASE/openapi.json" -o /dev/null 2>/dev/null; then
    LOCATION="$BASE/openapi.json"
else
    echo "schemathesis: WARNING: $BASE/openapi.json is not served; using shared/openapi.json" >&2
    LOCATION="$PWD/shared/openapi.json"
fi

ST_ARGS=(run "$LOCATION" --url "$BASE"
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
    --max-examples "$MAX_EXAMPLES" --max-time "$MAX_TIME" --workers 1 --request-timeout 20
    --report junit,ndjson --report-dir "$REPORT_DIR" --no-color --output-truncate true
    --generation-database "$REPORT_DIR/examples")
if [ -n "${SEED:-}" ]; then
    ST_ARGS+=(--seed "$SEED")
fi
status=0
# From the report directory: Hypothesis keeps its .hypothesis/ there, not in the work tree.
(cd "$REPORT_DIR" && "$ST" "${ST_ARGS[@]}") || status=$?

if grep -q '"level":"ERROR"\|panicked' "$LOG"; then
    echo "schemathesis: the server logged errors:" >&2
    grep '"level":"ERROR"\|panicked' "$LOG" | tail -20 >&2
fi
echo "schemathesis: reports in $REPORT_DIR" >&2
exit "$status"
