"""Shared bits: threads, checkpoints that survive interruption, JSONL logs, flow-matching schedule."""
import json
import os
import time

import torch

torch.set_num_threads(int(os.environ.get("WL_THREADS", "2")))


_BF16_WORKS = None


def _bf16_works():
    """Whether this CPU's PyTorch runs bf16 convolutions and products at all.
    On an AVX2-only processor (or under DNNL_MAX_CPU_ISA=AVX2) Debian's torch
    1.13 has no bf16 convolution ("could not create a primitive descriptor
    iterator"), so training there runs in float32."""
    global _BF16_WORKS
    if _BF16_WORKS is None:
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                torch.nn.functional.conv2d(torch.ones(1, 3, 4, 4), torch.ones(2, 3, 3, 3), padding=1)
                torch.nn.functional.linear(torch.ones(2, 4), torch.ones(3, 4))
            _BF16_WORKS = True
        except RuntimeError:
            _BF16_WORKS = False
    return _BF16_WORKS


def autocast():
    if os.environ.get("WL_BF16", "1") == "1" and _bf16_works():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    import contextlib
    return contextlib.nullcontext()


def save_ckpt(run, state, keep=2):
    os.makedirs(run, exist_ok=True)
    step = state["step"]
    tmp = os.path.join(run, f".ckpt_{step:08d}.pt.tmp")
    torch.save(state, tmp)
    os.replace(tmp, os.path.join(run, f"ckpt_{step:08d}.pt"))
    cks = sorted(f for f in os.listdir(run) if f.startswith("ckpt_") and f.endswith(".pt"))
    for f in cks[:-keep]:
        os.remove(os.path.join(run, f))


def latest_ckpt(run):
    if not os.path.isdir(run):
        return None
    cks = sorted(f for f in os.listdir(run) if f.startswith("ckpt_") and f.endswith(".pt"))
    for f in reversed(cks):
        try:
            return torch.load(os.path.join(run, f), map_location="cpu")
        except Exception as e:  # a torn file: try the previous one
            print("skipping unreadable checkpoint", f, e)
    return None


class Log:
    def __init__(self, path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.f = open(path, "a")

    def __call__(self, **kv):
        kv["time"] = round(time.time(), 1)
        self.f.write(json.dumps(kv) + "\n")
        self.f.flush()


def warp(sigma, shift=5.0):
    return shift * sigma / (1 + (shift - 1) * sigma)


def step_sigmas(steps=(1000, 750, 500, 250), shift=5.0):
    """docs/model.md §4: table = warp(linspace(1,0,1001)[:-1]); step k picks entry 1000-k. Returns sigmas (t/1000)."""
    table = [warp(1 - i / 1000.0, shift) for i in range(1000)]
    return [table[1000 - s] for s in steps]


class EMA:
    def __init__(self, model, decay=0.999):
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model):
        for k, v in model.state_dict().items():
            self.shadow[k].mul_(self.decay).add_(v.detach().float(), alpha=1 - self.decay)
