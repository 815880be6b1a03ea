#!/usr/bin/env bash
# Builds every Lambda function for arm64 with cargo-lambda and prints each zip's size.
# Installs what is missing: cargo-lambda (crates.io), its zig linker (PyPI), the Rust arm64 target.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-lambda >/dev/null 2>&1; then
    echo "installing cargo-lambda (takes ~11 minutes once)"
    cargo install cargo-lambda --locked
fi
if ! command -v zig >/dev/null 2>&1 && ! python3 -c 'import ziglang' >/dev/null 2>&1; then
    echo "installing zig (the linker cargo-lambda cross-compiles with)"
    python3 -m pip install --quiet ziglang
fi
rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$' || rustup target add aarch64-unknown-linux-gnu

export AWS_LC_SYS_NO_JITTER_ENTROPY=1
cargo lambda build --release --arm64 --output-format zip -p pedro-functions

echo
echo "function                     zip size"
for zip in target/lambda/*/bootstrap.zip; do
    name=$(basename "$(dirname "$zip")")
    printf '%-28s %8.2f MB\n' "$name" "$(echo "$(stat -c %s "$zip") / 1048576" | bc -l)"
done
