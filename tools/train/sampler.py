"""The engine's chunk-wise few-step sampler (docs/model.md §4), with the KV cache emulated by
re-running the cached clean frames at t = 0 under the block-causal mask."""
import torch

from common import step_sigmas


def denoise_chunk(dit, ctx_x, ctx_start, x, acts_all, ctx_emb, sigmas, chunk=3, gen=None, stop_at=None):
    """ctx_x [B, Fc, C, H, W] clean cached frames (may be Fc=0), x [B, chunk, ...] pure noise.
    acts_all [B, Fc+chunk, A]. Runs the steps (optionally only the first `stop_at`), returns
    (x0 prediction of the last step run, the noisy input of step `stop_at` if given)."""
    B, Fc = ctx_x.shape[:2]
    n = x.shape[1]
    x0 = None
    for k, s in enumerate(sigmas):
        if stop_at is not None and k == stop_at:
            return x0, x
        seq = torch.cat([ctx_x, x], 1)
        t = torch.cat([torch.zeros(B, Fc), torch.full((B, n), s * 1000.0)], 1)
        v = dit(seq, t, acts_all, None, start_frame=ctx_start, chunk=chunk, ctx=ctx_emb)[:, Fc:]
        x0 = x - s * v
        if k + 1 < len(sigmas):
            sn = sigmas[k + 1]
            noise = torch.randn(x0.shape, generator=gen)
            x = (1 - sn) * x0 + sn * noise
    return x0, x


@torch.no_grad()
def generate(dit, ctx_emb, prime, actions, n_frames, budget=9, steps=(1000, 750, 500, 250), shift=5.0,
             chunk=3, seed=0):
    """prime [B, P, C, H, W] clean latents (P multiple of chunk), actions [B, P + n_frames, A].
    Window cache of `budget` frames. Returns [B, P + n_frames, C, H, W]."""
    gen = torch.Generator().manual_seed(seed)
    sig = step_sigmas(steps, shift)
    frames = prime
    total = prime.shape[1] + n_frames
    while frames.shape[1] < total:
        F = frames.shape[1]
        lo = max(0, F - budget)
        ctx = frames[:, lo:]
        x = torch.randn((frames.shape[0], chunk) + tuple(frames.shape[2:]), generator=gen)
        acts = actions[:, lo:F + chunk]
        x0, _ = denoise_chunk(dit, ctx, lo, x, acts, ctx_emb, sig, chunk, gen)
        frames = torch.cat([frames, x0], 1)
    return frames[:, :total]
