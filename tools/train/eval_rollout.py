"""Rollout check of an exported world against the oracle: prime the cache with 3 encoded
oracle frames, generate N frames with the engine's sampler (chunks of 3, 4 steps, shift 5,
window cache from world.json) under the oracle's actions and prompt, compare per frame.

  /usr/bin/python3 tools/train/eval_rollout.py --world assets/worlds/oracle --data DATA --episodes 8 \
      --frames 16 --png /tmp/world_strip.png
"""
import argparse
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
import torch

torch.set_num_threads(2)
import data
from autoencoder import to_pixels
from load_world import load_world, text_context
from metrics import psnr
from sampler import generate


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--episodes", type=int, default=8, help="the last N episodes (held out)")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--start", type=int, default=24)
    ap.add_argument("--png", default="/tmp/world_strip.png")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    w = load_world(a.world)
    wj = w["world"]
    P = wj["prime_frames"]
    files = sorted(glob.glob(os.path.join(a.data, "*.safetensors")))[-a.episodes:]
    per_frame, rows, recon = [], [], []
    for i, f in enumerate(files):
        e = data.load_episode(f)
        s = a.start
        ch = wj["sampler"]["chunk"]
        ng = -(-a.frames // ch) * ch  # whole chunks
        n = P + ng
        gt = torch.from_numpy(e["frames"][s:s + n].astype(np.float32))
        acts = torch.from_numpy(e["actions"][s:s + n])[None]
        prompt = e["prompts"][s + n - 1]
        z = w["enc"](gt[:P] * 2 - 1) * wj["latent_scale"]
        ctx = w["dit"].embed_context(text_context(w, prompt))
        lat = generate(w["dit"], ctx, z[None], acts, ng, budget=wj["cache"]["budget_frames"] - ch,
                       steps=wj["sampler"]["steps"], shift=wj["sampler"]["shift"], chunk=wj["sampler"]["chunk"],
                       seed=i)
        img = to_pixels(w["dec"](lat[0, P:P + a.frames] / wj["latent_scale"]))
        gt = gt[:P + a.frames]
        rec = to_pixels(w["dec"](w["enc"](gt[P:] * 2 - 1)))
        per_frame.append([psnr(img[k].numpy(), gt[P + k].numpy()) for k in range(a.frames)])
        recon.append(psnr(rec.numpy(), gt[P:].numpy()))
        if i < 4:
            rows.append(torch.cat(list(gt[P:]), -1))
            rows.append(torch.cat(list(img), -1))
    pf = np.array(per_frame).mean(0)
    res = dict(rollout_psnr_mean=float(pf.mean()), rollout_psnr_per_frame=[round(float(x), 2) for x in pf],
               ae_recon_psnr=float(np.mean(recon)), episodes=len(files), frames=a.frames)
    print(json.dumps(res))
    if a.json:
        json.dump(res, open(a.json, "w"), indent=1)
    from PIL import Image
    strip = (torch.cat(rows, -2).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(strip).save(a.png)
    print("strip (rows: oracle, model, ... for 4 held-out episodes):", a.png)


if __name__ == "__main__":
    main()
