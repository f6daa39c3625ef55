#!/usr/bin/env bash
# The test command: sets up if needed, then runs the whole test suite in release mode
# (numeric code is 10-190x slower in debug builds).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift test -c release --disable-swift-testing "$@"
