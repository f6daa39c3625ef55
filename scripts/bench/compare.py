#!/usr/bin/env python3
"""Runs every `lucerna bench` workload side by side with its PyTorch CPU equivalent, interleaved, and
prints a Markdown table of medians for BENCHMARKS.md: throughput, then peak resident memory.

    python scripts/bench/compare.py [--threads 1 2] [--repeats 3] [--seconds 3] [--workloads cnn_train ...]

PyTorch is measured in every setting that applies to the workload — its defaults, channels-last memory
format, fused and foreach (multi-tensor) Adam/AdamW, channels-last with fused, and torch.compile (not for
workloads that differentiate twice, which torch.compile does not support) — and its fastest setting is the
best median of those, per workload and thread count. The ratio is Lucerna over that fastest setting
(> 1 means Lucerna is faster). Memory: each process's peak resident set (Linux VmHWM) and the part of it
the workload added after start-up (the peak less the resident size before the workload was built), for
Lucerna and for PyTorch's fastest setting; Lucerna's tensor allocations per iteration beside them.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import date

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WORKLOADS = ["mlp_train", "cnn_train", "cnn_infer", "wgan_gp_step", "attention_wgan_step", "rrr_step", "campp_penalty_step",
             "gradcampp", "saliency", "integrated_gradients", "fgsm", "pgd10", "spray", "sgemm"]
# Workloads with an optimizer (fused and foreach apply), and those that differentiate twice (no torch.compile).
OPTIMIZING = {"mlp_train", "cnn_train", "wgan_gp_step", "attention_wgan_step", "rrr_step", "campp_penalty_step"}
TWICE = {"wgan_gp_step", "attention_wgan_step", "rrr_step", "campp_penalty_step"}
CONVOLUTIONAL = set(WORKLOADS) - {"mlp_train", "spray"}


def variants(name):
    """The PyTorch settings measured for a workload: a name and the flags of bench_torch.py."""
    if name == "spray":
        return [("scikit-learn", [])]
    if name == "sgemm":
        return [("default", [])]
    chosen = [("default", [])]
    if name in CONVOLUTIONAL:
        chosen.append(("channels-last", ["--channels-last"]))
    if name in OPTIMIZING:
        chosen += [("fused", ["--fused"]), ("foreach", ["--foreach"])]
        if name in CONVOLUTIONAL:
            chosen.append(("channels-last+fused", ["--channels-last", "--fused"]))
    if name not in TWICE and name not in ("gradcampp", "saliency", "integrated_gradients"):
        chosen.append(("compile", ["--compile"]))
    return chosen


def run(command):
    """The JSON record on the last line a benchmark command prints, or None when the command failed."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        print(f"<!-- failed: {' '.join(command[-6:])}: {result.stderr.strip().splitlines()[-1:]} -->", file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def rate(value):
    """A throughput to three decimals below 100 (generator steps/s near 1), else to two."""
    return f"{value:.3f}" if value < 100 else f"{value:.2f}"


def median(records, field):
    values = [record[field] for record in records if record is not None and field in record]
    return statistics.median(values) if values else None


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--workloads", nargs="+", default=WORKLOADS, choices=WORKLOADS)
    parser.add_argument("--lucerna", default=os.path.join(ROOT, ".build", "release", "lucerna"))
    args = parser.parse_args()
    import torch
    torch_script = os.path.join(ROOT, "scripts", "bench", "bench_torch.py")
    kernels = run([args.lucerna, "bench", "mlp_train", "--threads", "1", "--seconds", "0.2"])["blas_core"]
    print(f"Measured {date.today().isoformat()} on {cpu_name()} ({os.cpu_count()} cores), "
          f"torch {torch.__version__} (CPU capability {torch.backends.cpu.get_cpu_capability()}), "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}, Lucerna's OpenBLAS kernels {kernels}; "
          f"median of {args.repeats} interleaved runs of {args.seconds:g} s each.\n")
    print("| benchmark | threads | unit | Lucerna | PyTorch default | PyTorch fastest (setting) | ratio "
          "| peak MB Lucerna · PyTorch | workload MB Lucerna · PyTorch | Lucerna allocations/step |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    limits = []  # (threads, cnn_train samples/s, its FLOPs a sample, sgemm MFLOP/s)
    for threads in args.threads:
        found = {}
        for name in args.workloads:
            settings = variants(name)
            lucerna, theirs = [], {label: [] for label, _ in settings}
            common = ["--threads", str(threads), "--seconds", str(args.seconds)]
            for _ in range(args.repeats):
                lucerna.append(run([args.lucerna, "bench", name] + common))
                for label, flags in settings:
                    theirs[label].append(run([sys.executable, torch_script, name] + common + flags))
            throughput = {label: median(records, "throughput") for label, records in theirs.items()}
            measured = {label: value for label, value in throughput.items() if value is not None}
            ours = median(lucerna, "throughput")
            if ours is None or not measured:
                print(f"| {name} | {threads} | | failed | | | | | | |", flush=True)
                continue
            best = max(measured, key=measured.get)
            default = throughput.get(settings[0][0])

            def megabytes(records, field):
                value = median(records, field)
                return "–" if value is None else f"{value:,.0f}"
            found[name] = (ours, median(lucerna, "flops_per_sample"))
            unit = ("generator steps/s" if name.endswith("wgan_gp_step") or name == "attention_wgan_step"
                    else "MFLOP/s" if name == "sgemm" else "samples/s")
            print(f"| {name} | {threads} | {unit} | {rate(ours)} | {'–' if default is None else rate(default)} | "
                  f"{rate(measured[best])} ({best}) | {ours / measured[best]:.2f} | "
                  f"{megabytes(lucerna, 'peak_rss_mb')} · {megabytes(theirs[best], 'peak_rss_mb')} | "
                  f"{megabytes(lucerna, 'workload_rss_mb')} · {megabytes(theirs[best], 'workload_rss_mb')} | "
                  f"{median(lucerna, 'allocations_per_step'):.0f} |", flush=True)
        if "cnn_train" in found and "sgemm" in found and found["cnn_train"][1]:
            limits.append((threads, found["cnn_train"][0], found["cnn_train"][1], found["sgemm"][0]))
    for threads, samples, flops, sgemm in limits:
        # The step's FLOPs (convolutions and linear layers, forward and backward) against the matrix-product limit.
        print(f"\ncnn_train, {threads} thread(s): {samples:,.0f} samples/s x {flops / 1e6:.1f} MFLOP = "
              f"{samples * flops / 1e9:.1f} GFLOP/s, {100 * samples * flops / 1e6 / sgemm:.1f} % of sgemm's "
              f"{sgemm / 1000:.1f} GFLOP/s (the limit: {sgemm * 1e6 / flops:,.0f} samples/s)")


if __name__ == "__main__":
    main()
