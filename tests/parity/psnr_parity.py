"""tools/train/metrics.py's PSNR against the engine's (bench/eval/image_metrics.cpp), through
worldloop_psnr_probe, on random frames of odd sizes: float inputs that are not 8-bit yet, uint8
inputs, masks that select some, all or no pixels, identical frames, pooled batches.

  /usr/bin/python3 tests/parity/psnr_parity.py PATH/TO/worldloop_psnr_probe
"""
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "train"))
import metrics  # noqa: E402


def engine_psnr(probe, a8, b8, mask, d):
    """a8, b8 uint8 [3, H, W] (the Python tools' layout), mask [H, W] or None -> the C++ value."""
    h, w = a8.shape[1:]
    paths = [os.path.join(d, n) for n in ("a.rgb", "b.rgb", "m.u8")]
    a8.transpose(1, 2, 0).tofile(paths[0])  # [H, W, 3], the engine's layout
    b8.transpose(1, 2, 0).tofile(paths[1])
    args = [probe, str(w), str(h), paths[0], paths[1]]
    if mask is not None:
        (mask != 0).astype(np.uint8).tofile(paths[2])
        args.append(paths[2])
    return float(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def same(x, y):
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= 1e-9


def main():
    probe = sys.argv[1]
    rng = np.random.default_rng(7)
    failures, cases = [], 0
    with tempfile.TemporaryDirectory() as d:
        for (h, w) in [(1, 1), (5, 7), (17, 33), (64, 64), (3, 128)]:
            for kind in ("float", "uint8", "close", "identical"):
                for masking in ("none", "some", "all", "nothing"):
                    if kind == "uint8":
                        a = rng.integers(0, 256, (3, h, w), dtype=np.uint8)
                        b = rng.integers(0, 256, (3, h, w), dtype=np.uint8)
                    else:
                        # floats a little outside [0, 1] and between 8-bit levels: metrics rounds them
                        a = rng.uniform(-0.05, 1.05, (3, h, w)).astype(np.float32)
                        b = a + rng.normal(0, 0.02, a.shape).astype(np.float32) if kind == "close" else \
                            a.copy() if kind == "identical" else rng.uniform(0, 1, (3, h, w)).astype(np.float32)
                    mask = None if masking == "none" else \
                        (rng.uniform(size=(h, w)) < 0.5) if masking == "some" else \
                        np.ones((h, w), bool) if masking == "all" else np.zeros((h, w), bool)
                    py = metrics.psnr(a, b, None if mask is None else mask[None])
                    cpp = engine_psnr(probe, metrics.to_8bit(a).astype(np.uint8),
                                      metrics.to_8bit(b).astype(np.uint8), mask, d)
                    cases += 1
                    if not same(py, cpp):
                        failures.append(f"{h}x{w} {kind} mask={masking}: python {py!r}, engine {cpp!r}")
        # a batch is one pooled MSE: the same as the engine's PSNR of the frames side by side
        a = rng.uniform(0, 1, (4, 3, 9, 11))
        b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1)
        wide = lambda x: np.concatenate(list(metrics.to_8bit(x).astype(np.uint8)), axis=2)  # [3, 9, 44]
        py, cpp = metrics.psnr(a, b), engine_psnr(probe, wide(a), wide(b), None, d)
        cases += 1
        if not same(py, cpp):
            failures.append(f"pooled batch: python {py!r}, engine {cpp!r}")
    try:
        import torch  # the training tools pass tensors
        t = torch.rand(3, 6, 5)
        cases += 1
        if metrics.psnr(t, t * 0.9) != metrics.psnr(t.numpy(), (t * 0.9).numpy()):
            failures.append("a torch tensor and its numpy array give different PSNRs")
    except ImportError:
        pass
    for f in failures:
        print("FAIL:", f)
    print(f"{cases - len(failures)}/{cases} PSNR cases agree with the engine")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
