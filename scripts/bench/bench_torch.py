#!/usr/bin/env python3
"""PyTorch CPU reference for `lucerna bench`: the same workloads, batch sizes and models.

Usage: python scripts/bench/bench_torch.py NAME [--threads N] [--seconds S] [--channels-last]
                                             [--fused | --foreach] [--compile]
Prints one JSON line like `lucerna bench`, with the process's peak resident memory.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

from torch_models import CNN, MLP, AttentionCritic, AttentionGenerator, Critic, Generator


def synthetic_heatmaps(count=5000, side=28):
    """BenchmarkWorkload.syntheticHeatmaps: Gaussian blobs at ten positions, jittered, plus noise, sum 1."""
    import numpy as np

    def hash_(index, salt):
        value = np.sin(index * 12.9898 + salt * 78.233) * 43758.5453
        return value - np.floor(value)

    maps = np.arange(count, dtype=np.float64)
    cluster = maps % 10
    golden, silver = cluster * 0.618034, cluster * 0.381966 + 0.25
    centre_x = 4 + 20 * (golden - np.floor(golden)) + 2 * (hash_(maps, 1) - 0.5)
    centre_y = 4 + 20 * (silver - np.floor(silver)) + 2 * (hash_(maps, 2) - 0.5)
    y, x = np.meshgrid(np.arange(side, dtype=np.float64), np.arange(side, dtype=np.float64), indexing="ij")
    squared = (x[None] - centre_x[:, None, None]) ** 2 + (y[None] - centre_y[:, None, None]) ** 2
    flat = (maps[:, None, None] * side * side + y[None] * side + x[None])
    values = np.exp(-squared / 8) + 0.1 * hash_(flat, 3)
    values /= values.sum(axis=(1, 2), keepdims=True)
    return values.reshape(count, side * side)


OPTIONS = {"foreach": False, "compile": False}


def adam(kind, parameters, fused, **settings):
    """torch.optim.Adam or AdamW with the implementation asked for: fused, foreach (multi-tensor), or
    PyTorch's default (which on CPU is the single-tensor loop)."""
    optimizer = torch.optim.AdamW if kind == "adamw" else torch.optim.Adam
    if fused:
        return optimizer(parameters, fused=True, **settings)
    if OPTIONS["foreach"]:
        return optimizer(parameters, foreach=True, **settings)
    return optimizer(parameters, **settings)


def compiled(module):
    """The module under torch.compile when asked (the first call compiles, inside the warm-up)."""
    return torch.compile(module) if OPTIONS["compile"] else module


def make_step(name, channels_last, fused):
    torch.manual_seed(0)
    if name == "spray":
        # scikit-learn's spectral clustering on SpRAy's affinity: the symmetric 32-nearest-neighbour graph
        # (K + K^T)/2, 32 eigenvectors (ARPACK), k-means with 10 clusters (10 initialisations).
        from sklearn.cluster import SpectralClustering
        from sklearn.neighbors import kneighbors_graph
        maps = synthetic_heatmaps()

        def step():
            graph = kneighbors_graph(maps, 32, include_self=False)
            affinity = 0.5 * (graph + graph.T)
            SpectralClustering(n_clusters=10, affinity="precomputed", n_components=32, random_state=0).fit(affinity)
            return len(maps)
        return step, "samples/s"
    if name == "sgemm":
        # One 1000x1000 float32 matrix product: 2,000 MFLOP (the machine's matrix-product limit).
        a, b = torch.rand(1000, 1000), torch.rand(1000, 1000)

        def step():
            torch.mm(a, b)
            return 2000
        return step, "MFLOP/s"
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if name == "mlp_train":
        model = compiled(MLP())
        opt = adam("adamw", model.parameters(), fused, lr=1e-3, weight_decay=1e-2)
        x, y = torch.rand(128, 784), torch.randint(0, 10, (128,))

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
            return 128
        return step, "samples/s"
    if name in ("cnn_train", "cnn_infer", "rrr_step"):
        model = compiled(CNN().to(memory_format=fmt))
        batch = 256 if name == "cnn_infer" else 64
        x = torch.rand(batch, 1, 28, 28).contiguous(memory_format=fmt)
        y = torch.randint(0, 10, (batch,))
        if name == "cnn_infer":
            model.eval()

            def step():
                with torch.no_grad():
                    model(x)
                return batch
            return step, "samples/s"
        opt = adam("adamw", model.parameters(), fused, lr=1e-3, weight_decay=1e-2)
        if name == "cnn_train":
            def step():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
                return batch
            return step, "samples/s"
        mask = torch.zeros(1, 1, 28, 28)
        mask[..., :4, :] = 1
        mask[..., -4:, :] = 1
        mask[..., :, :4] = 1
        mask[..., :, -4:] = 1

        def step():
            opt.zero_grad()
            inp = x.detach().requires_grad_(True)
            logits = model(inp)
            ce = F.cross_entropy(logits, y)
            (g,) = torch.autograd.grad(F.log_softmax(logits, 1).sum(), inp, create_graph=True)
            penalty = (mask * g).pow(2).sum((1, 2, 3)).mean()
            (ce + 10 * penalty).backward()
            opt.step()
            return batch
        return step, "samples/s"
    if name == "campp_penalty_step":
        # One training step with the Grad-CAM++ penalty: the share of the map of relu2 for the labels
        # (pytorch-grad-cam's Grad-CAM++ weights, computed with autograd and kept in the graph), resized to
        # 28x28, on a 4-pixel border; lambda 10; batch 64.
        model = CNN().to(memory_format=fmt)
        opt = adam("adamw", model.parameters(), fused, lr=1e-3, weight_decay=1e-2)
        x = torch.rand(64, 1, 28, 28).contiguous(memory_format=fmt)
        y = torch.randint(0, 10, (64,))
        mask = torch.zeros(64, 1, 28, 28)
        mask[..., :4, :] = 1
        mask[..., -4:, :] = 1
        mask[..., :, :4] = 1
        mask[..., :, -4:] = 1
        captured = {}
        model.relu2.register_forward_hook(lambda module, inputs, output: captured.__setitem__("a", output))

        def step():
            opt.zero_grad()
            logits = model(x)
            a = captured["a"]
            (g,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), a, create_graph=True)
            g2 = g * g
            alpha = g2 / (2 * g2 + a.sum(dim=(2, 3), keepdim=True) * g2 * g + 1e-6)
            alpha = torch.where(g2 > 0, alpha, torch.zeros_like(alpha))
            weights = (torch.relu(g) * alpha).sum(dim=(2, 3), keepdim=True)
            cam = torch.relu((weights * a).sum(dim=1, keepdim=True))
            cam = torch.relu(F.interpolate(cam, size=(28, 28), mode="bilinear", align_corners=False))
            share = (cam * mask).sum(dim=(1, 2, 3)) / (cam.sum(dim=(1, 2, 3)) + 1e-8)
            (F.cross_entropy(logits, y) + 10 * share.mean()).backward()
            opt.step()
            return 64
        return step, "samples/s"
    if name in ("gradcampp", "saliency", "integrated_gradients"):
        # Explanations of the benchmark CNN for the predicted classes, with the libraries researchers use:
        # pytorch-grad-cam's GradCAMPlusPlus on relu2 (maps resized to 28x28 and min-max normalised) and
        # Captum's Saliency and IntegratedGradients (32 steps, Gauss-Legendre, one batch).
        model = CNN().to(memory_format=fmt).eval()
        batch = 32 if name == "integrated_gradients" else 256
        x = torch.rand(batch, 1, 28, 28).contiguous(memory_format=fmt)
        if name == "gradcampp":
            from pytorch_grad_cam import GradCAMPlusPlus
            cam = GradCAMPlusPlus(model=model, target_layers=[model.relu2])

            def step():
                cam(input_tensor=x, targets=None)
                return batch
            return step, "samples/s"
        from captum.attr import IntegratedGradients, Saliency

        def targets():
            with torch.no_grad():
                return model(x).argmax(1)
        if name == "saliency":
            saliency = Saliency(model)

            def step():
                saliency.attribute(x, target=targets(), abs=True)
                return batch
            return step, "samples/s"
        ig = IntegratedGradients(model)

        def step():
            ig.attribute(x, target=targets(), n_steps=32, method="gausslegendre")
            return batch
        return step, "samples/s"
    if name in ("fgsm", "pgd10"):
        # torchattacks on the benchmark CNN in eval mode, batch 256, eps 0.1; PGD 10 steps of 0.01, random start.
        import torchattacks
        model = compiled(CNN().to(memory_format=fmt).eval())
        x = torch.rand(256, 1, 28, 28).contiguous(memory_format=fmt)
        y = torch.randint(0, 10, (256,))
        attack = (torchattacks.FGSM(model, eps=0.1) if name == "fgsm"
                  else torchattacks.PGD(model, eps=0.1, alpha=0.01, steps=10, random_start=True))

        def step():
            attack(x, y)
            return 256
        return step, "samples/s"
    if name == "wgan_gp_step":
        gen, critic = compiled(Generator()), compiled(Critic().to(memory_format=fmt))
        opt_g = adam("adam", gen.parameters(), fused, lr=1e-4, betas=(0.0, 0.9))
        opt_c = adam("adam", critic.parameters(), fused, lr=1e-4, betas=(0.0, 0.9))
        real = (torch.rand(64, 1, 28, 28) * 2 - 1).contiguous(memory_format=fmt)
        y = torch.randint(0, 10, (64,))

        def step():
            for _ in range(5):
                opt_c.zero_grad()
                with torch.no_grad():
                    fake = gen(torch.randn(64, 64), y)
                eps = torch.rand(64, 1, 1, 1)
                x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
                (g,) = torch.autograd.grad(critic(x_hat, y).sum(), x_hat, create_graph=True)
                gp = 10 * ((g.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
                loss = critic(fake, y).mean() - critic(real, y).mean() + gp
                loss.backward()
                opt_c.step()
            for p in critic.parameters():
                p.requires_grad_(False)
            opt_g.zero_grad()
            (-critic(gen(torch.randn(64, 64), y), y).mean()).backward()
            opt_g.step()
            for p in critic.parameters():
                p.requires_grad_(True)
            return 1
        return step, "generator_steps/s"
    if name == "attention_wgan_step":
        # As `train_gan{}` steps: per critic update fresh noise, D(real), D(fake), the penalty at interpolates;
        # the generator update with labels drawn uniformly, then the weight average (EMA 0.999, warmed up).
        gen, critic = compiled(AttentionGenerator()), compiled(AttentionCritic().to(memory_format=fmt))
        opt_g = adam("adam", gen.parameters(), fused, lr=1e-4, betas=(0.0, 0.9))
        opt_c = adam("adam", critic.parameters(), fused, lr=1e-4, betas=(0.0, 0.9))
        average = [p.detach().clone() for p in gen.parameters()]
        real = (torch.rand(64, 1, 28, 28) * 2 - 1).contiguous(memory_format=fmt)
        y = torch.randint(0, 10, (64,))
        count = [0]

        def step():
            for _ in range(5):
                opt_c.zero_grad()
                with torch.no_grad():
                    fake = gen(torch.randn(64, 128), y)
                real_scores, fake_scores = critic(real, y), critic(fake, y)
                eps = torch.rand(64, 1, 1, 1)
                x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
                (g,) = torch.autograd.grad(critic(x_hat, y).sum(), x_hat, create_graph=True)
                gp = 10 * ((g.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
                (fake_scores.mean() - real_scores.mean() + gp).backward()
                opt_c.step()
            for p in critic.parameters():
                p.requires_grad_(False)
            opt_g.zero_grad()
            (-critic(gen(torch.randn(64, 128), torch.randint(0, 10, (64,))), y).mean()).backward()
            opt_g.step()
            for p in critic.parameters():
                p.requires_grad_(True)
            decay = min(0.999, (1 + count[0]) / (10 + count[0]))
            count[0] += 1
            with torch.no_grad():
                for mean, p in zip(average, gen.parameters()):
                    mean.mul_(decay).add_(p, alpha=1 - decay)
            return 1
        return step, "generator_steps/s"
    raise SystemExit(f"unknown benchmark {name}")


def framework(name):
    if name == "spray":
        import sklearn
        return f"scikit-learn {sklearn.__version__}"
    return f"torch {torch.__version__}"


def resident_bytes(field):
    """A kB field of /proc/self/status (VmRSS now, VmHWM the peak) in bytes, as `lucerna bench` reads it."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--fused", action="store_true", help="fused Adam/AdamW kernels")
    parser.add_argument("--foreach", action="store_true", help="multi-tensor (foreach) Adam/AdamW")
    parser.add_argument("--compile", action="store_true", help="torch.compile the models")
    args = parser.parse_args()
    OPTIONS["foreach"], OPTIONS["compile"] = args.foreach, args.compile
    torch.set_num_threads(args.threads)
    from threadpoolctl import threadpool_limits
    threadpool_limits(args.threads)  # scikit-learn's BLAS and OpenMP pools, for `spray`
    baseline = resident_bytes("VmRSS")
    step, unit = make_step(args.name, args.channels_last, args.fused)
    start = time.perf_counter()
    while time.perf_counter() - start < 1.0:
        step()
    start, units = time.perf_counter(), 0
    while time.perf_counter() - start < args.seconds:
        units += step()
    throughput = units / (time.perf_counter() - start)
    # Four decimals below 100 units/s: generator steps/s near 1 would have a resolution of 1 % at two.
    digits = 4 if throughput < 100 else 2
    record = {"bench": args.name, "threads": args.threads, "throughput": round(throughput, digits), "unit": unit,
              "framework": framework(args.name), "channels_last": args.channels_last, "fused": args.fused,
              "foreach": args.foreach, "compile": args.compile}
    peak = resident_bytes("VmHWM")
    if peak is not None:
        # The interpreter and torch are loaded before the baseline, as Lucerna's executable is before its own.
        record["peak_rss_mb"] = round(peak / 1048576, 1)
        if baseline is not None:
            record["workload_rss_mb"] = round((peak - baseline) / 1048576, 1)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
