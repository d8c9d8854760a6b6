"""Train the image autoencoder (WORLD_FORMAT encoder/decoder), resumable.

  /usr/bin/python3 tools/train/train_ae.py --data DATA_DIR --run tools/train/runs/ae --minutes 12
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
import torch
import torch.nn.functional as F

import common
import data
from autoencoder import Decoder, Encoder, psnr, to_pixels


def frames_of(episodes):
    return np.concatenate([e["frames"] for e in episodes], 0)


def evaluate(enc, dec, frames, n=256):
    idx = np.linspace(0, len(frames) - 1, min(n, len(frames))).astype(np.int64)
    x = torch.from_numpy(frames[idx].astype(np.float32))
    with torch.no_grad():
        out = []
        for i in range(0, len(x), 64):
            out.append(to_pixels(dec(enc(x[i:i + 64] * 2 - 1))))
        y = torch.cat(out)
    return psnr(y, x)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--minutes", type=float, default=12)
    ap.add_argument("--max-steps", type=int, default=10 ** 9)
    ap.add_argument("--ch", type=int, default=64)
    ap.add_argument("--latent", type=int, default=4, help="latent channels")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--limit", type=int, default=None, help="episodes to load")
    ap.add_argument("--ckpt-minutes", type=float, default=3)
    ap.add_argument("--decoder-only", default=None, metavar="AE_FINAL",
                    help="fine-tune only the decoder of this trained AE (encoder frozen: latents stay valid)")
    a = ap.parse_args(argv)

    eps = data.load_dir(a.data, a.limit)
    nval = max(1, len(eps) // 20)
    train, val = frames_of(eps[:-nval] if len(eps) > 1 else eps), frames_of(eps[-nval:])
    print(f"AE: {len(train)} train frames, {len(val)} held-out frames", flush=True)
    enc, dec = Encoder(a.ch, a.latent), Decoder(a.ch, a.latent)
    enc, dec = enc.to(memory_format=torch.channels_last), dec.to(memory_format=torch.channels_last)
    if a.decoder_only:
        init = torch.load(a.decoder_only)
        enc.load_state_dict(init["enc"]); dec.load_state_dict(init["dec"])
        for p in enc.parameters():
            p.requires_grad_(False)
    params = [p for p in list(enc.parameters()) + list(dec.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
    step = 0
    elapsed = 0.0
    ck = common.latest_ckpt(a.run)
    if ck:
        enc.load_state_dict(ck["enc"]); dec.load_state_dict(ck["dec"]); opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck["elapsed"]
        print(f"resumed at step {step}", flush=True)
    log = common.Log(os.path.join(a.run, "ae_log.jsonl"))
    rng = np.random.default_rng(step + 1)
    t0 = time.time() - elapsed
    last_ck = time.time()
    budget = a.minutes * 60
    enc.train(); dec.train()
    while step < a.max_steps and time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        lr = a.lr * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(frac, 1.0))))
        for g in opt.param_groups:
            g["lr"] = lr
        x = torch.from_numpy(train[rng.integers(0, len(train), a.batch)].astype(np.float32)) * 2 - 1
        x = x.contiguous(memory_format=torch.channels_last)
        with common.autocast():
            if a.decoder_only:
                with torch.no_grad():
                    z = enc(x)
            else:
                z = enc(x)
            zn = z + 0.03 * z.detach().float().std() * torch.randn_like(z)
            y = dec(zn).float()
        l1 = (y - x).abs().mean()
        l2 = ((y - x) ** 2).mean()
        loss = l1 + l2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 25 == 0:
            log(step=step, l1=l1.item(), l2=l2.item(), lr=lr)
            print(f"ae step {step} l1 {l1.item():.4f} l2 {l2.item():.5f} {time.time() - t0:.0f}s", flush=True)
        if time.time() - last_ck > a.ckpt_minutes * 60:
            common.save_ckpt(a.run, dict(enc=enc.state_dict(), dec=dec.state_dict(), opt=opt.state_dict(),
                                         step=step, elapsed=time.time() - t0))
            last_ck = time.time()
    enc.eval(); dec.eval()
    p = evaluate(enc, dec, val)
    log(step=step, heldout_psnr=p)
    print(f"AE held-out PSNR {p:.2f} dB after {step} steps", flush=True)
    common.save_ckpt(a.run, dict(enc=enc.state_dict(), dec=dec.state_dict(), opt=opt.state_dict(), step=step,
                                 elapsed=time.time() - t0, psnr=p, done=True))
    torch.save(dict(enc=enc.state_dict(), dec=dec.state_dict(), ch=a.ch, latent=a.latent, psnr=p, step=step),
               os.path.join(a.run, "ae_final.pt"))
    return p


if __name__ == "__main__":
    main()
