"""Write a world package (WORLD_FORMAT.md) from a trained AE and DiT run.

  /usr/bin/python3 tools/train/export.py --ae runs/ae/ae_final.pt --dit-run runs/dit \
      --out assets/worlds/oracle --name oracle-meadows [--recipe runs/recipe.json]
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch

import common
import st
from data import ACTIONS

PRESETS = ["a summer meadow", "a snowy forest", "desert dunes", "lava fields at night", "a murky swamp",
           "an autumn forest"]


def bf16(sd):
    return {k: v.to(torch.bfloat16) for k, v in sd.items()}


def autoencoder_from_world(path):
    """The encoder and decoder of an exported world package, in the shape torch.load(ae_final.pt) has."""
    dec, _ = st.load_torch(os.path.join(path, "decoder.safetensors"))
    enc, _ = st.load_torch(os.path.join(path, "encoder.safetensors"))
    return dict(dec=dec, enc=enc, ch=enc["conv_in.weight"].shape[0], latent=enc["conv_out.weight"].shape[0])


def export(ae_path, dit_run, out, name, recipe=None, dit_dtype="bf16", use_ema=True, budget=9, chunk=3,
           context_noise=0.0, steps=(1000, 750, 500, 250), shift=5.0, ae_world=None):
    ae = autoencoder_from_world(ae_world) if ae_world else torch.load(ae_path)  # before `out` is written
    os.makedirs(out, exist_ok=True)
    ck = common.latest_ckpt(dit_run)
    if ck is None:
        raise SystemExit(f"no checkpoint in {dit_run}")
    cfg = dict(ck["dit_config"])
    latent_ch = ae.get("latent", 4)
    if cfg["in_dim"] != latent_ch:
        raise SystemExit(f"the DiT takes {cfg['in_dim']} latent channels, the autoencoder makes {latent_ch}")
    dit_sd = {k: v.float().contiguous() for k, v in (ck["ema"] if use_ema else ck["dit"]).items()}
    te_sd = {k: v.float().contiguous() for k, v in (ck["ema_te"] if use_ema else ck["te"]).items()
             if not k.startswith("aux.")}
    if dit_dtype == "bf16":
        dit_sd = bf16(dit_sd)
    st.save(os.path.join(out, "dit.safetensors"), dit_sd,
            {"format": "wan-causal-dit", "config": json.dumps(cfg)})
    st.save(os.path.join(out, "text_encoder.safetensors"), te_sd, {"config": json.dumps(ck["te_config"])})
    st.save(os.path.join(out, "decoder.safetensors"), {k: v.float() for k, v in ae["dec"].items()},
            {"config": json.dumps({"channels": ae["dec"]["conv_in.weight"].shape[0],  # its own width
                                   "latent_channels": latent_ch, "blocks": 2})})
    st.save(os.path.join(out, "encoder.safetensors"), {k: v.float() for k, v in ae["enc"].items()},
            {"config": json.dumps({"channels": ae["ch"], "latent_channels": latent_ch, "blocks": 2})})
    shutil.copy(os.path.join(dit_run, "tokenizer.model"), os.path.join(out, "tokenizer.model"))
    world = {
        "name": name,
        "image": {"width": 64, "height": 64},
        "latent": {"channels": latent_ch, "height": 16, "width": 16},
        "fps": 30,
        "sampler": {"steps": list(steps), "shift": shift, "chunk": chunk, "context_noise": context_noise},
        "cache": {"budget_frames": budget, "sink_frames": 0, "policy": "window"},
        "actions": ACTIONS,
        "bindings": {"W": "w", "A": "a", "S": "s", "D": "d", "up": "up", "down": "down", "left": "left",
                     "right": "right"},
        "presets": PRESETS,
        "prime_frames": 3,
        "latent_scale": float(ck["scale"]),
        "files": {"dit": "dit.safetensors", "decoder": "decoder.safetensors", "encoder": "encoder.safetensors",
                  "text_encoder": "text_encoder.safetensors", "tokenizer": "tokenizer.model"},
    }
    with open(os.path.join(out, "world.json"), "w") as f:
        json.dump(world, f, indent=2)
        f.write("\n")
    if recipe is not None:
        with open(os.path.join(out, "RECIPE.md"), "w") as f:
            f.write(recipe)
    size = sum(os.path.getsize(os.path.join(out, p)) for p in os.listdir(out))
    return world, size


def main():
    ap = argparse.ArgumentParser()
    ae = ap.add_mutually_exclusive_group(required=True)
    ae.add_argument("--ae", help="an autoencoder run's ae_final.pt")
    ae.add_argument("--ae-world", help="take the encoder and decoder of this world package as they are")
    ap.add_argument("--dit-run", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="oracle")
    ap.add_argument("--recipe-md", default=None, help="a RECIPE.md to copy into the package")
    ap.add_argument("--dit-dtype", choices=["bf16", "f32"], default="bf16")
    ap.add_argument("--budget", type=int, default=9, help="cache frames (the current chunk included)")
    ap.add_argument("--chunk", type=int, default=3, help="latent frames per chunk (1: frame-wise)")
    ap.add_argument("--context-noise", type=float, default=0.0, help="timestep of the clean pass")
    ap.add_argument("--steps", type=int, nargs="+", default=[1000, 750, 500, 250], help="the sampler's steps")
    ap.add_argument("--shift", type=float, default=5.0, help="the sampler's timestep shift")
    ap.add_argument("--no-ema", action="store_true", help="export the raw weights instead of their EMA")
    a = ap.parse_args()
    recipe = open(a.recipe_md).read() if a.recipe_md else None
    world, size = export(a.ae, a.dit_run, a.out, a.name, recipe, a.dit_dtype, budget=a.budget, chunk=a.chunk,
                         context_noise=a.context_noise, steps=a.steps, shift=a.shift,
                         use_ema=not a.no_ema, ae_world=a.ae_world)
    print(f"exported {a.out}: {size / 1e6:.2f} MB, latent_scale {world['latent_scale']:.4f}")


if __name__ == "__main__":
    main()
