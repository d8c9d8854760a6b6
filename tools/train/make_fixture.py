"""Fixtures for the C++ world tests: inputs and outputs of each part of a world package,
computed by the PyTorch reference of tools/train in float32 (no autocast).

  /usr/bin/python3 tools/train/make_fixture.py [--world assets/worlds/oracle] [--out tests/data/world_fixture]

Always writes a tiny random world package `tiny_world/` (float32) with its cases
(`tiny.*.safetensors`); with --world also the cases of that package (`<name>.*`).
Per world:
  NAME.decoder.safetensors   z [2, C, h, w] (latent the decoder takes), rgb [2, 3, H, W]
  NAME.encoder.safetensors   rgb [2, 3, H, W] in [-1, 1], z [2, C, h, w]
  NAME.text.safetensors      ids.{i} F32 [n_i], out.{i} [n_i, text_dim]; metadata prompts (JSON list)
  NAME.dit.case.safetensors  context [n, text_dim] (text encoder output of metadata prompt, before the
                             zero padding to text_len), call.{i}.x/.t/.start_frame/.actions/.flow;
                             metadata calls, chunk, cache_frames, sink_frames, prompt.
The second DiT call (frames 3..5) attends to the k/v the first call (frames 0..2) wrote.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
import torch

import st
from autoencoder import Decoder, Encoder
from data import ACTIONS
from dit import WanDiT
from load_world import load_world
from text_encoder import TextEncoder, Tokenizer, train_tokenizer

PROMPTS = ["a summer meadow", "now make it winter", "Lava fields at NIGHT", "a murky swamp with frogs",
           "qwerty zebra unknown words"]


def make_tiny_world(out, tokenizer_src=None):
    torch.manual_seed(1234)
    os.makedirs(out, exist_ok=True)
    if tokenizer_src and os.path.exists(tokenizer_src):
        import shutil
        shutil.copy(tokenizer_src, os.path.join(out, "tokenizer.model"))
    else:
        train_tokenizer(PROMPTS + ["a snowy forest", "desert dunes", "an autumn forest"], os.path.join(out, "tokenizer"),
                        64)
    tok = Tokenizer(os.path.join(out, "tokenizer.model"))
    cfg = dict(dim=64, ffn_dim=128, freq_dim=32, text_dim=32, num_heads=1, num_layers=2, text_len=16, action_dim=8)
    dit = WanDiT(**cfg)
    with torch.no_grad():  # the zero-initialised parts get random values so every path is exercised
        for n, p in dit.named_parameters():
            if p.abs().sum() == 0 or "norm" in n or "modulation" in n:
                p.copy_(torch.randn_like(p) * (0.3 if "norm" in n else 0.1) + (1.0 if "norm" in n else 0.0))
    te = TextEncoder(tok.vocab, dim=32, heads=2, layers=2, max_len=16)
    with torch.no_grad():
        for n, p in te.named_parameters():
            if "norm" in n:
                p.add_(torch.randn_like(p) * 0.2)
    dec, enc = Decoder(8), Encoder(8)
    st.save(os.path.join(out, "dit.safetensors"), {k: v.float() for k, v in dit.state_dict().items()},
            {"format": "wan-causal-dit", "config": json.dumps(dit.config)})
    st.save(os.path.join(out, "text_encoder.safetensors"), te.export_state(), {"config": json.dumps(te.config)})
    st.save(os.path.join(out, "decoder.safetensors"), dict(dec.state_dict()))
    st.save(os.path.join(out, "encoder.safetensors"), dict(enc.state_dict()))
    world = {"name": "tiny-random", "image": {"width": 64, "height": 64},
             "latent": {"channels": 4, "height": 16, "width": 16}, "fps": 30,
             "sampler": {"steps": [1000, 750, 500, 250], "shift": 5.0, "chunk": 3, "context_noise": 0},
             "cache": {"budget_frames": 9, "sink_frames": 0, "policy": "window"}, "actions": ACTIONS,
             "bindings": {a: a.lower() for a in ACTIONS}, "presets": ["a summer meadow"], "prime_frames": 3,
             "latent_scale": 1.0,
             "files": {"dit": "dit.safetensors", "decoder": "decoder.safetensors", "encoder": "encoder.safetensors",
                       "text_encoder": "text_encoder.safetensors", "tokenizer": "tokenizer.model"}}
    json.dump(world, open(os.path.join(out, "world.json"), "w"), indent=2)


@torch.no_grad()
def cases(world_dir, name, out):
    w = load_world(world_dir)
    g = torch.Generator().manual_seed(7)
    lat = w["world"]["latent"]
    C, h, wd = lat["channels"], lat["height"], lat["width"]
    z = torch.randn(2, C, h, wd, generator=g)
    st.save(os.path.join(out, f"{name}.decoder.safetensors"), {"z": z, "rgb": w["dec"](z)})
    rgb = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    st.save(os.path.join(out, f"{name}.encoder.safetensors"), {"rgb": rgb, "z": w["enc"](rgb)})
    tens = {}
    for i, p in enumerate(PROMPTS):
        ids = torch.tensor(w["tok"].encode(p))
        tens[f"ids.{i}"] = ids.to(torch.float32)  # the engine reads F32/BF16/F16 only; ids < 2^24 are exact
        tens[f"out.{i}"] = w["te"](ids[None], torch.tensor([len(ids)]))[0]
    st.save(os.path.join(out, f"{name}.text.safetensors"), tens, {"prompts": json.dumps(PROMPTS)})
    prompt = PROMPTS[0]
    ids = torch.tensor(w["tok"].encode(prompt))
    context = w["te"](ids[None], torch.tensor([len(ids)]))[0]
    dit = w["dit"]
    x0 = torch.randn(3, C, h, wd, generator=g)
    x1 = torch.randn(3, C, h, wd, generator=g)
    t0 = torch.tensor([1000.0, 937.5, 833.3333333333334])
    t1 = torch.tensor([625.0, 625.0, 0.0])
    a = torch.zeros(6, 8)
    a[0, 0] = a[1, 0] = a[1, 7] = a[3, 1] = a[4, 2] = a[4, 4] = a[5, 3] = 1
    seq = torch.cat([x0, x1])[None]
    t = torch.cat([t0, t1])[None]
    flow = dit(seq, t, a[None], context[None], start_frame=0, chunk=3)[0]
    flow0 = dit(x0[None], t0[None], a[None, :3], context[None], start_frame=0, chunk=3)[0]
    assert torch.allclose(flow0, flow[:3], atol=1e-4), "block-causal mask leaks the future"
    tens = {"context": context,
            "call.0.x": x0, "call.0.t": t0, "call.0.start_frame": torch.tensor([0.0]),
            "call.0.actions": a[:3], "call.0.flow": flow[:3],
            "call.1.x": x1, "call.1.t": t1, "call.1.start_frame": torch.tensor([3.0]),
            "call.1.actions": a[3:], "call.1.flow": flow[3:]}
    st.save(os.path.join(out, f"{name}.dit.case.safetensors"), tens,
            {"calls": "2", "chunk": "3", "frames": "6", "cache_frames": "9", "sink_frames": "0", "prompt": prompt,
             "world": os.path.relpath(world_dir, out)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", default=None)
    ap.add_argument("--out", default="tests/data/world_fixture")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tiny = os.path.join(a.out, "tiny_world")
    make_tiny_world(tiny, os.path.join(a.world, "tokenizer.model") if a.world else None)
    cases(tiny, "tiny", a.out)
    if a.world:
        cases(a.world, os.path.basename(os.path.normpath(a.world)), a.out)
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(a.out) for f in fs)
    print(f"wrote {a.out} ({total / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
