#!/usr/bin/env bash
# Lines of Swift per target (code lines: non-blank, not comment-only), to keep the engine small.
set -euo pipefail
cd "$(dirname "$0")/.."
for target in Sources/*/; do
    lines=$(find "$target" -name '*.swift' -print0 | xargs -0 -r cat | { grep -vE '^\s*(//.*)?$' || true; } | wc -l)
    printf '%-22s %6d\n' "$(basename "$target")" "$lines"
done
