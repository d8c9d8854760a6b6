"""The PyTorch side of bench/peer: configuration T of the causal Wan DiT
(tools/train/dit.py, DESIGN 2.1) with the weights bench_dit wrote, stepped
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
    sd = {k: torch.from_numpy(v.copy()) for k, v in st.load(path).items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise SystemExit(f"{path}: weights do not fit configuration T: missing {missing[:4]}, unexpected {unexpected[:4]}")
    return model.eval(), cfg


class CachedStepper:
    """One forward call of a chunk of `chunk` frames against per-block K/V caches."""

    def __init__(self, model, cfg, h, w, capacity):
        self.m, self.c = model, cfg
        self.h, self.w = h, w
        self.tpf = (h // 2) * (w // 2)
        self.capacity = capacity
        self.heads = cfg["num_heads"]
        self.k_cache = [None] * len(model.blocks)
        self.v_cache = [None] * len(model.blocks)

    def attend(self, blk, i, h, cos, sin, commit):
        sa = blk.self_attn
        B, N, D = h.shape
        H = self.heads
        q = sa.norm_q(sa.q(h)).view(B, N, H, -1).transpose(1, 2)
        k = sa.norm_k(sa.k(h)).view(B, N, H, -1).transpose(1, 2)
        v = sa.v(h).view(B, N, H, -1).transpose(1, 2)
        q = wdit.apply_rope(q, cos, sin)
        k = wdit.apply_rope(k, cos, sin)
        keep = (self.capacity - N // self.tpf) * self.tpf
        if self.k_cache[i] is not None and keep > 0:
            kk = torch.cat([self.k_cache[i][:, :, -keep:], k.to(self.k_cache[i].dtype)], 2)
            vv = torch.cat([self.v_cache[i][:, :, -keep:], v.to(self.v_cache[i].dtype)], 2)
        else:
            kk, vv = k, v
        if commit:
            self.k_cache[i], self.v_cache[i] = kk[:, :, -self.capacity * self.tpf:], vv[:, :, -self.capacity * self.tpf:]
        out = F.scaled_dot_product_attention(q, kk.to(q.dtype), vv.to(q.dtype))
        return sa.o(out.transpose(1, 2).reshape(B, N, D))

    def forward(self, x, t, start_frame, ctx, commit):
        m, c = self.m, self.c
        B, Fr = x.shape[0], x.shape[1]
        tpf = self.tpf
        xe = m.patch_embedding(x.permute(0, 2, 1, 3, 4)).flatten(2).transpose(1, 2).float()  # [B, N, D]
        e = m.time_embedding(wdit.sinusoidal_embedding(c["freq_dim"], t).float()).float()  # [B, F, D]
        e0 = m.time_projection(e).float().view(B, Fr, 6, -1)
        cos, sin = wdit.rope_tables(c["dim"] // c["num_heads"], Fr, self.h // 2, self.w // 2, start_frame)
        N, D = xe.shape[1], xe.shape[2]
        for i, blk in enumerate(m.blocks):
            mod = (blk.modulation.float()[:, None] + e0)[:, :, :, None]
            sh1, sc1, g1, sh2, sc2, g2 = mod.unbind(2)

            def fr(a):
                return a.view(B, Fr, tpf, D)

            h = (fr(wdit.layer_norm(xe, blk.eps)) * (1 + sc1) + sh1).view(B, N, D)
            xe = (fr(xe) + fr(self.attend(blk, i, h, cos, sin, commit).float()) * g1).view(B, N, D)
            xe = xe + blk.cross_attn(wdit.layer_norm(xe, blk.eps, blk.norm3.weight.float(), blk.norm3.bias.float()),
                                     ctx).float()
            h = (fr(wdit.layer_norm(xe, blk.eps)) * (1 + sc2) + sh2).view(B, N, D)
            xe = (fr(xe) + fr(blk.ffn(h).float()) * g2).view(B, N, D)
        hm = (m.head.modulation.float()[:, None] + e[:, :, None])[:, :, :, None]
        hn = wdit.layer_norm(xe, c["eps"]).view(B, Fr, tpf, -1) * (1 + hm[:, :, 1]) + hm[:, :, 0]
        return m.head.head(hn.view(B, Fr * tpf, -1)).float()


def run_mode(model, cfg, args, mode):
    torch.manual_seed(7)
    stepper = CachedStepper(model, cfg, args.height, args.width, args.capacity)
    text = torch.randn(1, cfg["text_len"] // 2, cfg["text_dim"])
    bf16 = mode.startswith("bf16")
    fwd = stepper.forward
    if mode.endswith("compile"):
        fwd = torch.compile(stepper.forward, dynamic=True)
    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        ctx = model.embed_context(text)
        for f in range(-2, args.frames):  # two warm-up frames (compilation happens there)
            start = max(f, 0)
            t0 = time.perf_counter()
            for step in range(args.steps + 1):
                x = torch.randn(1, 1, cfg["in_dim"], args.height, args.width)
                tv = 0.0 if step == args.steps else 1000.0 * (args.steps - step) / args.steps
                fwd(x, torch.full((1, 1), tv), start, ctx, step == args.steps)
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
