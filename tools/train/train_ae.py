"""Train the image autoencoder (WORLD_FORMAT encoder/decoder), resumable.

  /usr/bin/python3 tools/train/train_ae.py --data DATA_DIR --run tools/train/runs/ae --minutes 12

With --decoder-only and --rollouts (tools/train/rollout_latents.py), the decoder also learns to
decode the DiT's own latents: each step adds a batch of made latents, scored against the oracle
frame of the same moment on the pixels the priming showed (what was newly revealed cannot be
known, and regressing it would only teach the decoder to blur).
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
from autoencoder import Decoder, Encoder, to_pixels
from metrics import psnr


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


def load_rollouts(path, held_out_fraction=1 / 16):
    """-> (train, held-out) dicts of latents [N, C, h, w] f16, frames [N, 3, H, W] u8, seen [N, 1, H, W]."""
    r = torch.load(path)
    n = r["latents"].shape[0]
    cut = n - max(1, int(n * held_out_fraction))
    flat = lambda t: t.flatten(0, 1)  # clips x frames -> frames
    part = lambda sl: {k: flat(r[k][sl]) for k in ("latents", "frames", "seen")}
    return part(slice(0, cut)), part(slice(cut, n))


def rollout_loss(dec, r, idx, unseen_weight):
    """Masked L1 + L2 of decoding made latents r["latents"][idx] against the oracle frames."""
    z = r["latents"][idx].float().contiguous(memory_format=torch.channels_last)  # [B, C, h, w]
    x = r["frames"][idx].float() / 127.5 - 1  # [B, 3, H, W] in [-1, 1]
    m = r["seen"][idx].float()  # [B, 1, H, W]
    wgt = m + unseen_weight * (1 - m)  # [B, 1, H, W]
    with common.autocast():
        y = dec(z).float()  # [B, 3, H, W]
    d = y - x
    norm = wgt.sum() * 3 + 1e-6
    return ((d.abs() + d ** 2) * wgt).sum() / norm


def rollout_psnr(dec, r, n=512):
    """PSNR over the seen pixels of n held-out made frames, decoded like the runtime."""
    idx = np.linspace(0, r["latents"].shape[0] - 1, min(n, r["latents"].shape[0])).astype(np.int64)
    with torch.no_grad():
        y = to_pixels(dec(r["latents"][idx].float()))  # [n, 3, H, W] in [0, 1]
    return psnr(y, r["frames"][idx].float() / 255, r["seen"][idx].float())


def widen_decoder(small, wide):
    """Copy `small`'s weights into the first channels of `wide` (more channels, same depth) so that
    `wide` computes exactly what `small` does: the old channels ignore the new ones (zero weights)
    and so does conv_out; the new channels keep their fresh random inputs, so they learn."""
    sd, wd = small.state_dict(), wide.state_dict()
    for k, w in wd.items():
        v = sd[k]
        if k == "conv_out.weight":
            w[:, v.shape[1]:] = 0
        elif k.endswith(".weight") and not k.startswith("conv_in."):
            w[:v.shape[0], v.shape[1]:] = 0
        w[tuple(slice(0, n) for n in v.shape)] = v
        if k.endswith(".bias") and k != "conv_out.bias":
            w[v.shape[0]:] = 0
    wide.load_state_dict(wd)
    return wide


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
    ap.add_argument("--rollouts", default=None, help="(with --decoder-only) the DiT's made latents to decode too")
    ap.add_argument("--rollout-weight", type=float, default=1.0)
    ap.add_argument("--rollout-unseen-weight", type=float, default=0.0)
    ap.add_argument("--decoder-init", default=None, metavar="AE_FINAL",
                    help="(with --decoder-only) start the decoder from this AE's decoder instead")
    ap.add_argument("--widen-to", type=int, default=None, metavar="CH",
                    help="(with --decoder-only) widen the decoder to CH channels, starting from what it computes")
    a = ap.parse_args(argv)
    if a.rollouts and not a.decoder_only:
        ap.error("--rollouts needs --decoder-only: the made latents belong to the frozen encoder's space")

    eps = data.load_dir(a.data, a.limit)
    nval = max(1, len(eps) // 20)
    train, val = frames_of(eps[:-nval] if len(eps) > 1 else eps), frames_of(eps[-nval:])
    print(f"AE: {len(train)} train frames, {len(val)} held-out frames", flush=True)
    enc, dec = Encoder(a.ch, a.latent), Decoder(a.ch, a.latent)
    enc, dec = enc.to(memory_format=torch.channels_last), dec.to(memory_format=torch.channels_last)
    if a.decoder_only:
        init = torch.load(a.decoder_only)
        enc.load_state_dict(init["enc"]); dec.load_state_dict(init["dec"])
        if a.decoder_init:
            dec.load_state_dict(torch.load(a.decoder_init)["dec"])
        if a.widen_to:
            dec = widen_decoder(dec, Decoder(a.widen_to, a.latent)).to(memory_format=torch.channels_last)
        for p in enc.parameters():
            p.requires_grad_(False)
    ro_train = ro_val = None
    if a.rollouts:
        ro_train, ro_val = load_rollouts(a.rollouts)
        print(f"rollouts: {len(ro_train['latents'])} made frames, {len(ro_val['latents'])} held out; "
              f"seen-pixel PSNR before {rollout_psnr(dec.eval(), ro_val):.2f} dB", flush=True)
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
        if ro_train is not None:
            ro = rollout_loss(dec, ro_train, rng.integers(0, len(ro_train["latents"]), a.batch),
                              a.rollout_unseen_weight)
            loss = loss + a.rollout_weight * ro
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 25 == 0:
            extra = {} if ro_train is None else dict(rollout=ro.item())
            log(step=step, l1=l1.item(), l2=l2.item(), lr=lr, **extra)
            print(f"ae step {step} l1 {l1.item():.4f} l2 {l2.item():.5f} "
                  + "".join(f"{k} {v:.4f} " for k, v in extra.items()) + f"{time.time() - t0:.0f}s", flush=True)
        if time.time() - last_ck > a.ckpt_minutes * 60:
            common.save_ckpt(a.run, dict(enc=enc.state_dict(), dec=dec.state_dict(), opt=opt.state_dict(),
                                         step=step, elapsed=time.time() - t0))
            last_ck = time.time()
    enc.eval(); dec.eval()
    p = evaluate(enc, dec, val)
    extra = {} if ro_val is None else dict(heldout_rollout_seen_psnr=rollout_psnr(dec, ro_val))
    log(step=step, heldout_psnr=p, **extra)
    print(f"AE held-out PSNR {p:.2f} dB after {step} steps"
          + "".join(f", {k} {v:.2f} dB" for k, v in extra.items()), flush=True)
    common.save_ckpt(a.run, dict(enc=enc.state_dict(), dec=dec.state_dict(), opt=opt.state_dict(), step=step,
                                 elapsed=time.time() - t0, psnr=p, done=True))
    torch.save(dict(enc=enc.state_dict(), dec=dec.state_dict(), ch=a.ch, latent=a.latent, psnr=p, step=step),
               os.path.join(a.run, "ae_final.pt"))
    return p


if __name__ == "__main__":
    main()
