#!/usr/bin/env bash
# Reproduce the paper: every experiment of examples/paper/experiments.tsv, then the claims report.
#
#   bash scripts/reproduce.sh [--quick | --full | --tiny] [--jobs N] [--threads T] [--runs DIR] [--only PATTERN]
#                             [--backend local | slurm]
#   bash scripts/reproduce.sh [--quick | --full | --tiny] [--runs DIR] --list   (each experiment's state; runs nothing)
#
# --full (default): each recipe's own seeds (three) at the experiments' setting; --quick: one seed at a small
# setting; --tiny: one seed at the tests' sizes (seconds). Finished experiments (a summary.json) are skipped and
# interrupted ones resumed (`lucerna run --resume`), so re-running the same command finishes the work. --jobs N
# runs N experiments at once, each with --threads T (default 1); --backend slurm runs them as one Slurm job
# array instead (`lucerna sweep --manifest RUNS/manifest.jsonl --backend slurm`, docs/guide/sweeps.md). The report is written to RUNS/paper.md and
# RUNS/paper.html, and with --full also to docs/paper.md and docs/paper.html. RUNS defaults to
# ../runs/paper-<mode> beside the checkout. Data come from LUCERNA_DATA (scripts/fetch-data.sh downloads them).
set -euo pipefail
# The whole script is one function, parsed before it runs, so editing this file during a long run cannot change
# the run; the manifest is read into memory at the start for the same reason.
main() {
cd "$(dirname "$0")/.."
mode=full jobs=1 threads=1 runs="" only="" list=false backend=local
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --tiny) mode=tiny ;;
    --jobs) jobs="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --runs) runs="$2"; shift ;;
    --only) only="$2"; shift ;;
    --backend) backend="$2"; shift ;;
    --list) list=true ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "reproduce.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ "$jobs" =~ ^[1-9][0-9]*$ && "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "reproduce.sh: --jobs and --threads take positive integers" >&2; exit 2; }
[[ "$backend" == local || "$backend" == slurm ]] || { echo "reproduce.sh: --backend is local or slurm" >&2; exit 2; }
runs="${runs:-../runs/paper-$mode}"
mapfile -t manifest < examples/paper/experiments.tsv
if [ "$list" = true ]; then
  # finished: a summary.json; interrupted: a run.json only (resumed by the next invocation).
  for line in "${manifest[@]}"; do
    IFS=$'\t' read -r name recipe _ <<< "$line"
    case "$name" in ''|'#'*) continue ;; esac
    if [ -f "$runs/$name/summary.json" ]; then state=finished
    elif [ -f "$runs/$name/run.json" ]; then state=interrupted
    else state="not started"; fi
    printf '%-30s %-12s %s\n' "$name" "$state" "$recipe"
  done
  exit 0
fi
lucerna="${LUCERNA:-.build/release/lucerna}"
[ -x "$lucerna" ] || bash scripts/setup.sh
mkdir -p "$runs" "$runs/logs"
runs="$(cd "$runs" && pwd)"
column=$(case "$mode" in tiny) echo 3 ;; quick) echo 4 ;; full) echo 5 ;; esac)

# Provenance for the report's header.
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | grep -qv '^??' && echo true || echo false)
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || echo unknown)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
SECONDS=0
# Every invocation, finished or interrupted (but not killed with SIGKILL), appends a line to
# RUNS/invocations.jsonl: a run finished over several invocations reports the wall time of all of them.
record_invocation() {
  printf '{"started": "%s", "ended": "%s", "wall seconds": %d, "commit": "%s", "mode": "%s", "jobs": %d}\n' \
    "$started" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$SECONDS" "$commit" "$mode" "$jobs" >> "$runs/invocations.jsonl"
}
trap 'record_invocation' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# A JSON string of $1 (backslashes and quotes escaped).
json_string() { local text=${1//\\/\\\\}; printf '"%s"' "${text//\"/\\\"}"; }
# Each experiment's start, resumption and end, with the commit that ran it, as a line of RUNS/experiments.jsonl:
# the report names the commit of each experiment, which differs from the header's when an invocation of a later
# commit resumed or reran it (a line is one short write, so parallel jobs do not interleave).
record_experiment() {
  printf '{"name": %s, "event": "%s", "commit": %s, "time": "%s"}\n' \
    "$(json_string "$1")" "$2" "$(json_string "$commit")" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >> "$runs/experiments.jsonl"
}

# One experiment: run, resume or skip it; its output goes to RUNS/logs/NAME.log.
run_one() {
  local name="$1" recipe="$2" overrides="$3"
  local folder="$runs/$name" log="$runs/logs/$name.log"
  local arguments=()
  if [ -f "$folder/summary.json" ]; then echo "$(date +%T) $name: finished before, skipped"; return 0; fi
  if [ -f "$folder/run.json" ]; then
    arguments=(run --resume "$folder" --threads "$threads")
    echo "$(date +%T) $name: resuming"
    record_experiment "$name" resumed
  else
    arguments=(run "$recipe" --out "$folder" --threads "$threads")
    [ "$mode" = full ] || arguments+=(--seed 1)
    if [ "$overrides" != "-" ]; then for item in $overrides; do arguments+=(--set "$item"); done; fi
    echo "$(date +%T) $name: started"
    record_experiment "$name" started
  fi
  if "$lucerna" "${arguments[@]}" >> "$log" 2>&1; then
    echo "$(date +%T) $name: done"
    record_experiment "$name" finished
  else
    echo "$(date +%T) $name: FAILED (see $log)"; record_experiment "$name" failed; return 1
  fi
}

failed=0
running=0
index=0
[ "$backend" = local ] || : > "$runs/manifest.jsonl"
for line in "${manifest[@]}"; do
  IFS=$'\t' read -r name recipe tiny quick full <<< "$line"
  case "$name" in ''|'#'*) continue ;; esac
  if [ -n "$only" ] && [[ "$name" != $only ]]; then continue; fi
  overrides=$(case "$column" in 3) echo "$tiny" ;; 4) echo "$quick" ;; 5) echo "$full" ;; esac)
  if [ "$backend" = slurm ]; then
    # One point of a sweep manifest per experiment, its folder the experiment's name.
    items=()
    if [ "$overrides" != "-" ]; then for item in $overrides; do items+=("$(json_string "$item")"); done; fi
    list=$(IFS=,; echo "${items[*]:-}")
    seeds=$([ "$mode" = full ] || echo ', "seeds": [1]')
    printf '{"index": %d, "name": %s, "recipe": %s, "overrides": [%s], "folder": %s%s}\n' "$index" \
      "$(json_string "$name")" "$(json_string "$(pwd)/$recipe")" "$list" "$(json_string "$name")" "$seeds" \
      >> "$runs/manifest.jsonl"
    index=$((index + 1))
    continue
  fi
  run_one "$name" "$recipe" "$overrides" < /dev/null &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=$((failed + 1))
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=$((failed + 1))
  running=$((running - 1))
done
if [ "$backend" = slurm ]; then
  "$lucerna" sweep --manifest "$runs/manifest.jsonl" --backend slurm --jobs "$jobs" --threads "$threads" || failed=1
fi

trap - EXIT
record_invocation
total=$(sed -n 's/.*"wall seconds": \([0-9]*\).*/\1/p' "$runs/invocations.jsonl" | awk '{sum += $1} END {print sum + 0}')
count=$(grep -c . "$runs/invocations.jsonl")
first=$(sed -n '1s/^{"started": "\([^"]*\)".*/\1/p' "$runs/invocations.jsonl")
# Every commit the invocations ran, in order, with how many invocations ran it.
commits=$(sed -n 's/.*"commit": "\([^"]*\)".*/\1/p' "$runs/invocations.jsonl" | awk '
  !($0 in count) { order[++kinds] = $0 } { count[$0]++ }
  END { for (i = 1; i <= kinds; i++) printf "%s%s (%d invocation%s)", (i > 1 ? ", " : ""), order[i],
        count[order[i]], (count[order[i]] > 1 ? "s" : "") }')
cat > "$runs/reproduce.json" <<EOF
{"commit of this invocation": "$commit", "commits of all invocations": "$commits", "uncommitted changes": $dirty, "mode": "$mode", "first invocation started": "$first",
 "started": "$started",
 "finished": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "wall seconds of this invocation": $SECONDS,
 "invocations": $count, "wall seconds of all invocations": $total, "cpu": "$cpu",
 "jobs": $jobs, "threads per job": $threads}
EOF
"$lucerna" report --claims examples/paper/claims.lua "$runs" --html "$runs/paper.html" > "$runs/paper.md"
if [ "$mode" = full ]; then cp "$runs/paper.md" docs/paper.md; cp "$runs/paper.html" docs/paper.html; fi
echo "report: $runs/paper.md ($failed experiment(s) failed)"
[ "$failed" -eq 0 ]
}
main "$@"; exit  # one line: bash has read it before main runs, so an edit of this file during a run cannot break the end
