#!/usr/bin/python3
"""ChestXRayNet in PyTorch: the reference the tfjs training bench is compared against.

Same net as src/ml/model.ts (NCHW here): seven 'same'-padded relu convs with six 2x2 max pools,
global average pool, dense 128 relu, dropout 0.6, dense 32 relu, dense 1 sigmoid; 54,627
parameters. Adam 1e-3, binary cross-entropy, random standardised 256x256 input.

Measures training images/s (after warm-up) and inference images/s at batch 1 and batch 16,
then prints ONE JSON line on stdout. Peak RSS (VmHWM) is included. Run it with Debian's
python3 (/usr/bin/python3 + python3-torch); a pyenv python on PATH usually cannot see it.

Counts: --warmup, --batches (timed training batches), --predict-iters; or BENCH_WARMUP,
BENCH_BATCHES, BENCH_PREDICT_ITERS in the environment.
"""
import argparse
import json
import os
import platform
import resource
import sys
import time


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


def peak_rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=env_int("BENCH_SIZE", 256))
    ap.add_argument("--batch", type=int, default=env_int("BENCH_BATCH", 16))
    ap.add_argument("--warmup", type=int, default=env_int("BENCH_WARMUP", 3))
    ap.add_argument("--batches", type=int, default=env_int("BENCH_BATCHES", 45))
    ap.add_argument("--predict-iters", type=int, default=env_int("BENCH_PREDICT_ITERS", 30))
    ap.add_argument("--threads", type=int, default=env_int("BENCH_TORCH_THREADS", 2))
    args = ap.parse_args()

    try:
        import torch
        import torch.nn as nn
    except Exception as e:  # noqa: BLE001 - report any import failure as "unavailable"
        print(json.dumps({"engine": "pytorch", "available": False,
                          "reason": f"import torch failed under {sys.executable}: {e}"}))
        return 0

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    def conv(cin, cout, k):
        return nn.Conv2d(cin, cout, k, padding=k // 2)

    class ChestXRayNet(nn.Module):
        def __init__(self, dropout=0.6):
            super().__init__()
            layers = []
            cin = 1
            for cout, k, pool in [(8, 3, True), (8, 3, True), (12, 3, True), (12, 3, True),
                                  (20, 5, True), (20, 5, True), (50, 5, False)]:
                layers += [conv(cin, cout, k), nn.ReLU(inplace=True)]
                if pool:
                    layers.append(nn.MaxPool2d(2, 2))
                cin = cout
            self.features = nn.Sequential(*layers)
            self.head = nn.Sequential(
                nn.Linear(50, 128), nn.ReLU(inplace=True), nn.Dropout(dropout),
                nn.Linear(128, 32), nn.ReLU(inplace=True),
                nn.Linear(32, 1), nn.Sigmoid())

        def forward(self, x):
            x = self.features(x)
            x = x.mean(dim=(2, 3))  # global average pool
            return self.head(x)

    model = ChestXRayNet()
    params = sum(p.numel() for p in model.parameters())
    assert params == 54627, f"expected 54,627 parameters, got {params}"

    def standardised(n):
        x = torch.rand(n, 1, args.size, args.size) * 255.0
        m = x.mean(dim=(1, 2, 3), keepdim=True)
        s = x.std(dim=(1, 2, 3), keepdim=True)
        return (x - m) / s

    xb = standardised(args.batch)
    yb = (torch.rand(args.batch, 1) < 0.5).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCELoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    model.train()
    for _ in range(args.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(args.batches):
        step()
    train_s = time.perf_counter() - t0
    train_ips = args.batches * args.batch / train_s

    model.eval()
    predict = {}
    with torch.inference_mode():
        for bs in (1, 16):
            x = standardised(bs)
            iters = max(1, args.predict_iters if bs == 1 else max(3, args.predict_iters // 3))
            for _ in range(3):
                model(x)
            t0 = time.perf_counter()
            for _ in range(iters):
                model(x).numpy()
            predict[str(bs)] = iters * bs / (time.perf_counter() - t0)

    print(json.dumps({
        "engine": "pytorch",
        "available": True,
        "version": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "params": params,
        "size": args.size,
        "batch": args.batch,
        "warmup": args.warmup,
        "batches": args.batches,
        "trainImagesPerSecond": round(train_ips, 2),
        "predictImagesPerSecond": {k: round(v, 2) for k, v in predict.items()},
        "peakRssMb": round(peak_rss_mb() or 0, 1),
        "mallocEnv": bool(os.environ.get("MALLOC_MMAP_THRESHOLD_")),
        "cpuSeconds": round(cpu_seconds(), 2),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
