"""The world model's own rollouts on training episodes, for fine-tuning the decoder on what it
will really decode: latents the DiT made (not the encoder's), each paired with the oracle frame
of the same moment and a mask of the pixels that frame shares with the last priming frame.
For the DiT (train_dit.py --stage ro) it also keeps each clip's keys [N, P + F, 8] and the
oracle's own latents of all P + F frames (DiT scale, `oracle_latents`).

Each clip: `--prime` encoded oracle frames, then `--frames` frames made with the engine's sampler
(tools/train/sampler.py: the world's steps, shift, chunk and window cache) under the episode's
keys and one prompt (clips holding a prompt switch are skipped: their seen pixels changed
theme). Only the training episodes are used (the last 1/20 are held out, as in train_ae.py).

  /usr/bin/python3 tools/train/rollout_latents.py --world assets/worlds/default --data DATA \
      --clips 1536 --out tools/train/runs/rollouts.pt
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
import torch

torch.set_num_threads(2)
import common
import data
from load_world import load_world
from sampler import generate
from train_dit import seen_mask


def seen_pixels(acts, size):
    """acts [B, F, 8] of the made frames -> [B, F, 1, size, size] bool: pixels whose world texel
    was inside the last priming frame's view (one texel per pixel at the oracle's 64x64)."""
    return seen_mask(acts, size, size, texels_per_latent=1) > 0.5


@torch.no_grad()
def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--clips", type=int, default=1536)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="episodes to load")
    a = ap.parse_args(argv)

    w = load_world(a.world)
    wj = w["world"]
    P, ch, scale = wj["prime_frames"], wj["sampler"]["chunk"], wj["latent_scale"]
    if a.frames % ch:
        ap.error(f"--frames {a.frames} is not a whole number of the world's chunks of {ch}")
    eps = data.load_dir(a.data, a.limit)
    train = eps[:-max(1, len(eps) // 20)] if len(eps) > 1 else eps
    K = P + a.frames
    rng = np.random.default_rng(a.seed)
    lat, frames, masks, prompts, keys, truth = [], [], [], [], [], []
    t0 = time.time()
    while len(lat) * a.batch < a.clips:
        gt, acts, texts = [], [], []
        while len(gt) < a.batch:
            e = train[rng.integers(len(train))]
            s = int(rng.integers(0, len(e["frames"]) - K + 1))
            if len(set(e["prompts"][s:s + K])) > 1:
                continue
            gt.append(e["frames"][s:s + K].astype(np.float32))
            acts.append(e["actions"][s:s + K])
            texts.append(e["prompts"][s])
        gt = torch.from_numpy(np.stack(gt))  # [B, K, 3, H, W] in [0, 1]
        acts = torch.from_numpy(np.stack(acts))  # [B, K, 8]
        B, _, _, H, W = gt.shape
        z = w["enc"]((gt * 2 - 1).flatten(0, 1)) * scale  # [B*K, C, h, w] the oracle's latents, DiT scale
        z = z.view(B, K, *z.shape[1:])  # [B, K, C, h, w]
        ids, lens = w["tok"].batch(texts)
        ctx = w["dit"].embed_context(w["te"](ids, lens))  # [B, text_len, dim]
        with common.autocast():  # bf16 on AMX: ~the speed of the engine's own loop
            made = generate(w["dit"], ctx, z[:, :P], acts, a.frames, budget=wj["cache"]["budget_frames"] - ch,
                            steps=wj["sampler"]["steps"], shift=wj["sampler"]["shift"], chunk=ch,
                            seed=a.seed * 100003 + len(lat))[:, P:].float()  # [B, frames, C, h, w]
        lat.append((made / scale).half())  # the decoder's input space
        frames.append((gt[:, P:] * 255).round().to(torch.uint8))  # [B, frames, 3, H, W]
        masks.append(seen_pixels(acts[:, P:], H))  # [B, frames, 1, H, W]
        prompts += texts
        keys.append(acts)
        truth.append(z.half())
        print(f"rollouts {len(lat) * a.batch}/{a.clips} {time.time() - t0:.0f}s", flush=True)
    out = dict(latents=torch.cat(lat), frames=torch.cat(frames), seen=torch.cat(masks), prompts=prompts,
               actions=torch.cat(keys), oracle_latents=torch.cat(truth), latent_scale=scale,
               world=os.path.abspath(a.world), prime=P, seed=a.seed)
    torch.save(out, a.out)
    print(f"wrote {a.out}: latents {tuple(out['latents'].shape)}, seen fraction {out['seen'].float().mean():.2f}")


if __name__ == "__main__":
    main()
