#!/usr/bin/env bash
# The test command: sets up if needed, then runs the whole test suite in release mode
# (numeric code is 10-190x slower in debug builds).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Style: the committed .swift-format (4 spaces, 120 columns); a few seconds. `swift format -i -r -p Sources
# Tests scripts/fuzz Package.swift` fixes most of what it reports.
swift format lint --strict --recursive --parallel Sources Tests scripts/fuzz Package.swift
swift test -c release --disable-swift-testing "$@"
# Fuzzing: every reader, a checkpoint resume and the resampler, 8 s each under AddressSanitizer (about a minute).
bash scripts/fuzz.sh 8
