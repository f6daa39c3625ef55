#!/usr/bin/env bash
# Copies the records of every finished seed (summary.json, metrics.jsonl, config.json, report.md) of a sweep
# folder's points, and the manifest, into DEST (absolute), without checkpoints, images or logs.
set -euo pipefail
src="$1"; dest="$2"
mkdir -p "$dest"
cd "$src"
cp manifest.jsonl "$dest/"
for d in */; do
  d=${d%/}
  [ -f "$d/run.json" ] || continue
  for s in "$d"/seed-*; do
    [ -f "$s/summary.json" ] || continue
    mkdir -p "$dest/$s"
    cp "$d/run.json" "$dest/$d/"
    for f in summary.json metrics.jsonl config.json report.md; do [ -f "$s/$f" ] && cp "$s/$f" "$dest/$s/"; done
  done
done
