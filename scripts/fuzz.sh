#!/usr/bin/env bash
# Fuzzes the IDX, gzip, WAV, CSV and safetensors readers, a training resume from a checkpoint and the WAV
# resampler with libFuzzer and AddressSanitizer for a bounded time each and reports what ran. A reader may
# reject any input with an error; a crash, trap or sanitizer report fails.
#
#   bash scripts/fuzz.sh [SECONDS per target, default 60]   (CI: 8 s each, about a minute in all)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT/scripts/fuzz"
SECONDS_PER_READER="${1:-60}"
swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library 2>&1 | tail -1
BINARY="$(swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --show-bin-path)/LucernaFuzz"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
status=0
for reader in 0:idx 1:gzip 2:wav 3:csv 4:safetensors 5:resume 6:resample; do
    tag="${reader%%:*}" name="${reader##*:}"
    corpus="$WORK/$name"; mkdir -p "$corpus"
    # Seeds: a valid file of each kind, prefixed with the reader's selector byte.
    case "$name" in
        idx)  printf '\x00\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02\x03' > "$WORK/seed" ;;
        gzip) printf 'hello' | gzip -n > "$WORK/seed" ;;
        wav)  printf 'RIFF\x28\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x04\x00\x00\x00\x01\x00\x02\x00' > "$WORK/seed" ;;
        csv)  printf 'a,b\n1,"x, ""y""\nz"\n' > "$WORK/seed" ;;
        safetensors|resume) cp "$ROOT/Tests/Fixtures/python_written.safetensors" "$WORK/seed" ;;
        resample) printf 'RIFF\x28\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x04\x00\x00\x00\x01\x00\x02\x00' > "$WORK/seed" ;;
    esac
    { printf "\\x0$tag"; cat "$WORK/seed"; } > "$corpus/seed"
    echo "== $name: ${SECONDS_PER_READER}s"
    if "$BINARY" "$corpus" -max_total_time="$SECONDS_PER_READER" -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$WORK/$name-" 2> "$WORK/$name.log"; then
        grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$WORK/$name.log" | sed 's/^/   /'
        echo "   no crash"
    else
        status=1
        echo "   CRASH: see the input below"; tail -30 "$WORK/$name.log"
        ls "$WORK"/"$name"-* 2>/dev/null && cp "$WORK"/"$name"-* /tmp/ 2>/dev/null || true
    fi
done
exit $status
