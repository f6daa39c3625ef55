#!/usr/bin/env python3
"""Runs every `lucerna bench` workload side by side with its PyTorch CPU equivalent, interleaved, and
prints a Markdown table of medians for BENCHMARKS.md.

    python scripts/bench/compare.py [--threads 1 2] [--repeats 3] [--seconds 3] [--workloads cnn_train ...]

PyTorch is measured twice: its default settings, and its fastest here (channels-last memory format
and fused Adam/AdamW). The ratio is Lucerna over the faster PyTorch setting (> 1 means Lucerna is faster).
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
             "gradcampp", "saliency", "integrated_gradients", "fgsm", "pgd10", "spray"]


def run(command, field="throughput"):
    """The `field` of the JSON record on the last line a benchmark command prints."""
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return json.loads(output).get(field, "unknown")


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
    kernels = run([args.lucerna, "bench", "mlp_train", "--threads", "1", "--seconds", "0.2"], field="blas_core")
    print(f"Measured {date.today().isoformat()} on {cpu_name()} ({os.cpu_count()} cores), "
          f"torch {torch.__version__} (CPU capability {torch.backends.cpu.get_cpu_capability()}), "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}, Lucerna's OpenBLAS kernels {kernels}; "
          f"median of {args.repeats} interleaved runs of {args.seconds:g} s each.\n")
    print("| benchmark | threads | unit | Lucerna | PyTorch default | PyTorch fastest | ratio |")
    print("|---|---|---|---|---|---|---|")
    for threads in args.threads:
        for name in args.workloads:
            lucerna, default, fastest = [], [], []
            for _ in range(args.repeats):
                lucerna.append(run([args.lucerna, "bench", name, "--threads", str(threads), "--seconds", str(args.seconds)]))
                default.append(run([sys.executable, torch_script, name, "--threads", str(threads), "--seconds", str(args.seconds)]))
                fastest.append(run([sys.executable, torch_script, name, "--threads", str(threads), "--seconds",
                                    str(args.seconds), "--channels-last", "--fused"]))
            ours, theirs = statistics.median(lucerna), max(statistics.median(default), statistics.median(fastest))
            unit = "generator steps/s" if name.endswith("wgan_gp_step") or name == "attention_wgan_step" else "samples/s"
            print(f"| {name} | {threads} | {unit} | {ours:.2f} | {statistics.median(default):.2f} | "
                  f"{statistics.median(fastest):.2f} | {ours / theirs:.2f} |", flush=True)


if __name__ == "__main__":
    main()
