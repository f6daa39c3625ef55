#!/usr/bin/env bash
# Renders a run's report.html in headless Chromium and saves a PNG screenshot, to check that the page
# (tables, SVG charts, embedded PNG grids) renders in a real browser.
# Usage: scripts/screenshot-report.sh RUN_DIR [OUT.png] [WIDTHxHEIGHT]
# Installs Debian's chromium when it is missing (needs root, as scripts/setup.sh).
set -euo pipefail
run_dir=${1:?usage: scripts/screenshot-report.sh RUN_DIR [OUT.png] [WIDTHxHEIGHT]}
out=${2:-$run_dir/report.png}
size=${3:-1200x2600}
page="$(cd "$run_dir" && pwd)/report.html"
[ -f "$page" ] || { echo "no report.html in $run_dir" >&2; exit 1; }
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
    browser=$(command -v chromium)
fi
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="${size/x/,}" \
    --screenshot="$out" "file://$page" 2>/dev/null
echo "screenshot: $out"
