"""The PyTorch side of bench/peer: configuration T of the causal Wan DiT
(tools/train/dit.py, docs/model.md §1) with the weights bench_dit wrote, stepped
exactly as the engine steps it: frame-wise chunks, 4 denoising calls plus the
clean pass per frame, each call attending to a KV cache of at most 12 frames
(the chunk's own keys included); the clean pass commits the chunk's keys.

Prints one JSON object: ms per frame (median, min, max) for each mode tried:
f32 eager, bf16 autocast (only where the CPU has native bf16), and
torch.compile of the f32 (and bf16) step.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "train"))
import dit as wdit  # noqa: E402
import st  # noqa: E402


def load_model(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n)).get("__metadata__", {})
    cfg = json.loads(meta["config"])
    cfg.pop("model_type", None)
    cfg.setdefault("action_dim", 0)
    model = wdit.WanDiT(**cfg)
    tensors, _ = st.load(path)
    sd = {k: torch.as_tensor(v).float() for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise SystemExit(f"{path}: weights do not fit configuration T: missing {missing[:4]}, unexpected {unexpected[:4]}")
    return model.eval(), cfg


def rope(x, cos, sin):
    """wdit.apply_rope without complex numbers (torch.compile does not generate code for them):
    pairs (x[2i], x[2i+1]) rotated by the angle whose cos/sin are given, [N, d/2]."""
    xr = x.float().reshape(*x.shape[:-1], -1, 2)
    a, b = xr[..., 0], xr[..., 1]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).flatten(-2)


class CachedStepper:
    """One forward call of a chunk of `chunk` frames against per-block K/V caches.

    `step` is a pure function of tensors (the frame's noise and time, its RoPE
    tables, the context and the caches' past keys and values) that returns the
    flow and the chunk's new keys and values, so torch.compile sees one graph;
    the cache itself (append, slide, commit on the clean pass) is kept outside it.
    """

    def __init__(self, model, cfg, h, w, capacity):
        self.m, self.c = model, cfg
        self.h, self.w = h, w
        self.tpf = (h // 2) * (w // 2)
        self.capacity = capacity
        self.heads = cfg["num_heads"]
        blocks = len(model.blocks)
        D = cfg["dim"]
        d = D // self.heads
        self.k_cache = [torch.zeros(1, self.heads, 0, d) for _ in range(blocks)]
        self.v_cache = [torch.zeros(1, self.heads, 0, d) for _ in range(blocks)]

    def step(self, x, t, cos, sin, ctx, past_k, past_v):
        m, c = self.m, self.c
        B, Fr = x.shape[0], x.shape[1]
        tpf = self.tpf
        H = self.heads
        xe = m.patch_embedding(x.permute(0, 2, 1, 3, 4)).flatten(2).transpose(1, 2).float()  # [B, N, D]
        e = m.time_embedding(wdit.sinusoidal_embedding(c["freq_dim"], t).float()).float()  # [B, F, D]
        e0 = m.time_projection(e).float().view(B, Fr, 6, -1)
        N, D = xe.shape[1], xe.shape[2]
        new_k, new_v = [], []
        for i, blk in enumerate(m.blocks):
            mod = (blk.modulation.float()[:, None] + e0)[:, :, :, None]
            sh1, sc1, g1, sh2, sc2, g2 = mod.unbind(2)

            def fr(a):
                return a.view(B, Fr, tpf, D)

            h = (fr(wdit.layer_norm(xe, blk.eps)) * (1 + sc1) + sh1).view(B, N, D)
            sa = blk.self_attn
            q = sa.norm_q(sa.q(h)).view(B, N, H, -1).transpose(1, 2)
            k = sa.norm_k(sa.k(h)).view(B, N, H, -1).transpose(1, 2)
            v = sa.v(h).view(B, N, H, -1).transpose(1, 2)
            q = rope(q, cos, sin)
            k = rope(k, cos, sin)
            v = v.float()
            new_k.append(k)
            new_v.append(v)
            kk = torch.cat([past_k[i], k], 2)
            vv = torch.cat([past_v[i], v], 2)
            att = F.scaled_dot_product_attention(q, kk.to(q.dtype), vv.to(q.dtype))
            att = sa.o(att.transpose(1, 2).reshape(B, N, D))
            xe = (fr(xe) + fr(att.float()) * g1).view(B, N, D)
            xe = xe + blk.cross_attn(wdit.layer_norm(xe, blk.eps, blk.norm3.weight.float(), blk.norm3.bias.float()),
                                     ctx).float()
            h = (fr(wdit.layer_norm(xe, blk.eps)) * (1 + sc2) + sh2).view(B, N, D)
            xe = (fr(xe) + fr(blk.ffn(h).float()) * g2).view(B, N, D)
        hm = (m.head.modulation.float()[:, None] + e[:, :, None])[:, :, :, None]
        hn = wdit.layer_norm(xe, c["eps"]).view(B, Fr, tpf, -1) * (1 + hm[:, :, 1]) + hm[:, :, 0]
        return m.head.head(hn.view(B, Fr * tpf, -1)).float(), new_k, new_v

    def call(self, step_fn, x, t, start_frame, ctx, commit):
        c = self.c
        cos, sin = wdit.rope_tables(c["dim"] // c["num_heads"], x.shape[1], self.h // 2, self.w // 2, start_frame)
        # The chunk's own keys count toward the cache's frames, as in the engine.
        keep = (self.capacity - x.shape[1]) * self.tpf
        past_k = [k[:, :, k.shape[2] - min(keep, k.shape[2]):] for k in self.k_cache]
        past_v = [v[:, :, v.shape[2] - min(keep, v.shape[2]):] for v in self.v_cache]
        out, new_k, new_v = step_fn(x, t, cos, sin, ctx, past_k, past_v)
        if commit:
            self.k_cache = [torch.cat([p, n], 2) for p, n in zip(past_k, new_k)]
            self.v_cache = [torch.cat([p, n], 2) for p, n in zip(past_v, new_v)]
        return out


def run_mode(model, cfg, args, mode):
    torch.manual_seed(7)
    stepper = CachedStepper(model, cfg, args.height, args.width, args.capacity)
    text = torch.randn(1, cfg["text_len"] // 2, cfg["text_dim"])
    bf16 = mode.startswith("bf16")
    step_fn = stepper.step
    if mode.endswith("compile"):
        step_fn = torch.compile(stepper.step, dynamic=True)
    times = []
    # Untimed warm-up frames, as many as bench_dit's (--warmup): the cache is full when timing
    # starts, and a compiled mode has recompiled for every cache length by then.
    warm = args.warmup
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        ctx = model.embed_context(text)
        for f in range(-warm, args.frames):
            start = f + warm
            t0 = time.perf_counter()
            for step in range(args.steps + 1):
                x = torch.randn(1, 1, cfg["in_dim"], args.height, args.width)
                tv = 0.0 if step == args.steps else 1000.0 * (args.steps - step) / args.steps
                stepper.call(step_fn, x, torch.full((1, 1), tv), start, ctx, step == args.steps)
            if f >= 0:
                times.append((time.perf_counter() - t0) * 1e3)
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "n": len(times)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--capacity", type=int, default=12)
    ap.add_argument("--height", type=int, default=16)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--modes", default="auto")
    ap.add_argument("--warmup", type=int, default=15)
    args = ap.parse_args()
    model, cfg = load_model(args.weights)
    native_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    modes = args.modes.split(",") if args.modes != "auto" else (
        ["f32", "f32_compile"] + (["bf16", "bf16_compile"] if native_bf16 else []))
    results = {}
    for mode in modes:
        try:
            results[mode] = run_mode(model, cfg, args, mode)
        except Exception as e:  # torch.compile needs a C compiler and may fail: report it, do not stop
            results[mode] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
        print(f"peer_torch: {mode}: {results[mode]}", file=sys.stderr, flush=True)
    ok = {k: v for k, v in results.items() if "median" in v}
    best = min(ok, key=lambda k: ok[k]["median"]) if ok else None
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "cpu_capability": torch.backends.cpu.get_cpu_capability(), "native_bf16": native_bf16,
                      "modes": results, "fastest": best}))


if __name__ == "__main__":
    main()
