"""The one PSNR of the Python tools, defined like the engine's (bench/eval/image_metrics.cpp).

Both images are taken as 8-bit frames: values in [0, 1] are clamped and rounded to 0..255
(frames that came from 8-bit pixels, like the oracle's, are unchanged by that), uint8 arrays
are used as they are. The squared error is summed in float64 over every selected pixel and
its 3 channels, and PSNR = 10 log10(255^2 / MSE): +inf for identical frames, NaN when the
mask selects nothing. A batch of frames gives one PSNR of the pooled MSE; average per-frame
PSNRs yourself when that is what you mean (the world benchmark reports per-frame means).

tests/psnr_parity.py checks this against the C++ definition on random frames.
"""
import math

import numpy as np


def to_8bit(x):
    """[..., ] values in [0, 1] (numpy or torch, any float type) or uint8 -> float64 numpy 0..255."""
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().float().cpu().numpy()
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float64)
    return np.round(np.clip(x.astype(np.float64), 0.0, 1.0) * 255.0)


def psnr(a, b, mask=None):
    """PSNR (dB) of a against b, both [..., 3, H, W] or any equal shapes, in [0, 1] or uint8.
    `mask` (1 = counted) broadcasts against them, e.g. [..., 1, H, W] for whole pixels."""
    a8, b8 = to_8bit(a), to_8bit(b)
    if a8.shape != b8.shape:
        raise ValueError(f"psnr: shapes {a8.shape} and {b8.shape} differ")
    se = (a8 - b8) ** 2
    if mask is None:
        total, n = se.sum(), se.size
    else:
        m = mask.detach().float().cpu().numpy() if hasattr(mask, "detach") else np.asarray(mask)
        m = np.broadcast_to(m != 0, se.shape)
        total, n = se[m].sum(), int(m.sum())
    if n == 0:
        return math.nan
    if total == 0:
        return math.inf
    return 10.0 * math.log10(255.0 * 255.0 / (total / n))
