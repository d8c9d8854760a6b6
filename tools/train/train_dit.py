"""Train the text encoder + causal Wan DiT (+ action embedding), resumable.

Stage df: diffusion forcing (per-chunk / per-frame independent flow-matching noise levels,
block-causal attention by chunks of 3, clean context chunks at t = 0 mixed in).
Stage sf: self forcing: roll the model out with the engine's sampler (4 steps, shift 5,
own clean frames as context, window cache) without grad, then train the denoising of the
next chunk at the sampler's own noisy inputs with the oracle frames as targets.
Stage roll (chunk 1): prime with oracle frames, roll the model out with the sampler WITH
gradients through every step and every frame it makes (its outputs are the next frames'
context), and regress each made frame on the oracle's: the loss is the rollout's error itself,
so the model learns not to make the errors that compound (exposure bias), not only to recover.

  /usr/bin/python3 tools/train/train_dit.py --data DATA --ae runs/ae/ae_final.pt --run runs/dit --stage df --minutes 40
  /usr/bin/python3 tools/train/train_dit.py --data DATA --ae runs/ae/ae_final.pt --run runs/dit --stage sf --minutes 10

The file reads top to bottom: data (prepare, batch), the loss helpers, TrainConfig (every flag),
build_models (new, --init-world or resumed), one stage_* function per stage (STAGES), train (the loop).
"""
import argparse
import json
from dataclasses import MISSING, dataclass, field, fields
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
import torch

import common
import data
from autoencoder import Encoder
from common import step_sigmas, warp
from dit import WanDiT
from load_world import load_world
from sampler import denoise_chunk
from text_encoder import TextEncoder, Tokenizer, train_tokenizer


def prepare(a):
    """Episodes -> latents (cached in the run folder), tokenizer, latent scale."""
    os.makedirs(a.run, exist_ok=True)
    eps = data.load_dir(a.data, a.limit)
    tok_path = os.path.join(a.run, "tokenizer.model")
    if a.init_world and not os.path.exists(tok_path):  # the package's tokenizer: its ids are the weights'
        shutil.copy(os.path.join(a.init_world, "tokenizer.model"), tok_path)
    if not os.path.exists(tok_path):
        texts = data.corpus(eps, a.extra_prompts)
        train_tokenizer(texts, os.path.join(a.run, "tokenizer"), a.vocab)
        with open(os.path.join(a.run, "corpus.txt"), "w") as f:
            f.write("\n".join(texts) + "\n")
    lat_path = os.path.join(a.run, "latents.pt")
    if os.path.exists(lat_path):
        lat = torch.load(lat_path)
    else:
        if a.init_world:
            enc = load_world(a.init_world)["enc"]
        else:
            ae = torch.load(a.ae)
            enc = Encoder(ae["ch"], ae.get("latent", 4))
            enc.load_state_dict(ae["enc"])
        enc.eval()
        lat = []
        with torch.no_grad():
            for e in eps:
                x = torch.from_numpy(e["frames"].astype(np.float32)) * 2 - 1
                lat.append(torch.cat([enc(x[i:i + 128]) for i in range(0, len(x), 128)]).half())
        std = torch.cat([l.float().flatten() for l in lat]).std().item()
        scale = json.load(open(os.path.join(a.init_world, "world.json")))["latent_scale"] if a.init_world else 1.0 / std
        lat = dict(latents=lat, scale=scale)
        torch.save(lat, lat_path)
    for e, l in zip(eps, lat["latents"]):
        e["lat"] = l.float() * lat["scale"]
        del e["frames"]  # pixels are not needed here
    nval = max(1, len(eps) // 20) if len(eps) > 4 else 0
    return eps[:-nval] if nval else eps, eps[-nval:] if nval else eps, Tokenizer(tok_path, a.text_len), lat["scale"]


def batch(rng, eps, B, K, chunk, switches, switch_p):
    """B clips of K frames starting on chunk boundaries; `last` [B]: the clip frame where its last
    prompt (the one the clip is trained under) starts, a chunk boundary."""
    xs, acts, prompts, themes, last = [], [], [], [], []
    for _ in range(B):
        x, ac, pr, th, l = data.sample_aligned_clip(rng, eps, K, "lat", chunk, switches, switch_p)
        xs.append(x); acts.append(torch.from_numpy(ac)); prompts.append(pr[-1]); themes.append(int(th[-1]))
        last.append(l)
    return torch.stack(xs), torch.stack(acts), prompts, torch.tensor(themes), torch.tensor(last)


def teacher_forcing_layout(K, chunk, tpf, context=None):
    """One df sample as one sequence: the clean chunks 0..n-2 (context, t = 0) followed by noisy
    copies of chunks 1..n-1. A clean chunk sees the clean chunks up to itself; a noisy chunk sees
    the clean chunks before it and itself: every noisy chunk is trained on clean context, as the
    engine's cache gives it, in a single forward pass. `context` (chunks) limits what a chunk
    sees to that many chunks before it, as the engine's window cache does (None: all).
    Returns (clip frame of each sequence frame [Fs], number of clean frames, additive mask)."""
    n = K // chunk
    src = list(range((n - 1) * chunk)) + list(range(chunk, n * chunk))
    nc = (n - 1) * chunk
    Fs = len(src)
    reach = n if context is None else context
    allowed = torch.zeros(Fs, Fs, dtype=torch.bool)
    for a in range(Fs):
        for b in range(Fs):
            ca, cb = src[a] // chunk, src[b] // chunk
            if b < nc:
                allowed[a, b] = ca - reach <= cb and (cb < ca if a >= nc else cb <= ca)
            else:
                allowed[a, b] = a >= nc and ca == cb
    allowed = allowed.repeat_interleave(tpf, 0).repeat_interleave(tpf, 1)
    mask = torch.zeros(Fs * tpf, Fs * tpf).masked_fill(~allowed, float("-inf"))
    return torch.tensor(src), nc, mask


def motion_weights(x, before, alpha):
    """Per latent pixel loss weights 1 + alpha * |x_f - x_(f-1)| (channel mean), normalised to mean 1.
    x [B, F, C, H, W]; `before` [B, C, H, W] is the frame preceding x[:, 0] (None: x[:, 0] gets weight 1).
    Copying the previous frame is the cheapest wrong answer for a moving camera; this makes the
    pixels the motion changes count more than the static ones."""
    if alpha <= 0:
        return 1.0
    prev = torch.cat([x[:, :1] if before is None else before[:, None], x[:, :-1]], 1)
    w = 1 + alpha * (x - prev).abs().mean(2, keepdim=True)
    return w / w.mean((2, 3, 4), keepdim=True)


# Camera motion of the dataset's action columns (W A S D, look up/down/left/right), in texels:
# the oracle's move and look steps at 64x64 (tools/oracle: move_texels 4, look_texels 2).
ACTION_DX = torch.tensor([0, -4, 0, 4, 0, 0, -2, 2], dtype=torch.float32)
ACTION_DY = torch.tensor([-4, 0, 4, 0, -2, 2, 0, 0], dtype=torch.float32)


def camera_steps(acts):
    """acts [B, F, 8] -> (dx, dy) [B, F] each: texels the camera moves right / down in each frame."""
    held = (acts > 0.5).float()  # [B, F, 8]
    return held @ ACTION_DX, held @ ACTION_DY


def seen_mask(acts, h, w, texels_per_latent=4):
    """acts [B, F, 8]: the actions of F frames that follow a reference frame. Returns [B, F, 1, h, w]:
    1 where the latent pixel shows world texels that were all inside the reference frame's view
    (the bench's psnr16 mask), 0 where the camera has revealed something new since."""
    dx, dy = camera_steps(acts)  # [B, F] each
    dx, dy = torch.cumsum(dx, 1), torch.cumsum(dy, 1)  # [B, F] camera shift since the reference
    tx = torch.arange(w, dtype=torch.float32) * texels_per_latent  # [w] first texel of each latent column
    ty = torch.arange(h, dtype=torch.float32) * texels_per_latent  # [h]
    size_x, size_y = w * texels_per_latent, h * texels_per_latent
    in_x = (tx + dx[..., None] >= 0) & (tx + texels_per_latent - 1 + dx[..., None] < size_x)  # [B, F, w]
    in_y = (ty + dy[..., None] >= 0) & (ty + texels_per_latent - 1 + dy[..., None] < size_y)  # [B, F, h]
    return (in_y[..., :, None] & in_x[..., None, :]).float()[:, :, None]


def align_previous(prev, acts, texels_per_latent=4):
    """prev [B, F, C, H, W]: the frame before each of F frames; acts [B, F, 8] those frames' keys.
    Returns (aligned, valid): `prev` moved with the camera so that aligned[b, f] shows at each latent
    pixel the world texels frame f shows there, and valid [B, F, 1, H, W] = 1 where it can: inside
    the previous view, and only in frames whose camera step is a whole latent pixel (W/A/S/D, idle;
    the arrows' half-pixel looks are 0)."""
    dx, dy = camera_steps(acts)  # [B, F] each
    whole = (dx % texels_per_latent == 0) & (dy % texels_per_latent == 0)  # [B, F]
    sx = torch.where(whole, dx / texels_per_latent, torch.zeros_like(dx)).long()  # [B, F] latent pixels
    sy = torch.where(whole, dy / texels_per_latent, torch.zeros_like(dy)).long()  # [B, F]
    m = int(max(sx.abs().max(), sy.abs().max()))
    B, F, C, H, W = prev.shape
    padded = torch.nn.functional.pad(prev, (m, m, m, m))  # [B, F, C, H + 2m, W + 2m]
    inside = torch.nn.functional.pad(torch.ones(B, F, 1, H, W), (m, m, m, m))  # [B, F, 1, H + 2m, W + 2m]
    aligned, valid = [], []
    for b in range(B):
        for f in range(F):
            y0, x0 = m + int(sy[b, f]), m + int(sx[b, f])
            aligned.append(padded[b, f, :, y0:y0 + H, x0:x0 + W])  # [C, H, W]
            valid.append(inside[b, f, :, y0:y0 + H, x0:x0 + W] * float(whole[b, f]))  # [1, H, W]
    return torch.stack(aligned).view(B, F, C, H, W), torch.stack(valid).view(B, F, 1, H, W)


def texture_stats(x):
    """x [B, F, C, H, W] -> [B, F, 3C]: per channel the spatial std and the mean absolute
    horizontal and vertical differences, i.e. how much contrast and fine detail a frame has,
    wherever it is. Regression on an uncertain future lowers both (blur); matching them does not
    say where the detail goes, only that it is there."""
    gx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean((3, 4))  # [B, F, C]
    gy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean((3, 4))  # [B, F, C]
    return torch.cat([x.std((3, 4)), gx, gy], -1)


def texture_swd(x, y, directions=32, patch=3):
    """Sliced Wasserstein distance between the 3x3 latent patches of x and y [B, F, C, H, W]
    -> [B, F]: project every patch of a frame on random directions, sort, compare. It matches
    the whole distribution of local texture (which colours sit next to which), not only its
    amplitude, so a repeating stripe does not pass for the oracle's trees the way it passes
    texture_stats; like texture_stats it does not say where the texture goes."""
    B, F, C, H, W = x.shape
    px = torch.nn.functional.unfold(x.reshape(B * F, C, H, W), patch)  # [B F, C 9, L]
    py = torch.nn.functional.unfold(y.reshape(B * F, C, H, W), patch)  # [B F, C 9, L]
    d = torch.randn(C * patch * patch, directions)
    d = d / d.norm(dim=0, keepdim=True)  # [C 9, n] unit directions
    sx = torch.sort(torch.einsum("bpl,pn->bnl", px, d), -1).values  # [B F, n, L]
    sy = torch.sort(torch.einsum("bpl,pn->bnl", py, d), -1).values  # [B F, n, L]
    return ((sx - sy) ** 2).mean((1, 2)).view(B, F)


class Rollouts:
    """Stored rollouts (rollout_latents.py) as df clips of K frames: `sample` picks a clip and a window
    of it and returns (context [B, K, C, H, W]: the priming latents then the model's made ones,
    keys [B, K, 8], targets [B, K, C, H, W]: the oracle's latents of the same frames, prompts,
    loss weights of frames 1..K-1 [B, K - 1, 1, H, W]: 1 on the priming frames and on what the last
    priming frame showed, `unseen` on what the camera revealed since, which cannot be known)."""

    def __init__(self, path, K, texels_per_latent, unseen):
        r = torch.load(path)
        for k in ("actions", "oracle_latents"):
            if k not in r:
                raise SystemExit(f"{path}: no '{k}' (written by an older rollout_latents.py; make it again)")
        self.P = r["prime"]
        truth = r["oracle_latents"].float()  # [N, P + F, C, H, W] DiT scale
        made = r["latents"].float() * r["latent_scale"]  # [N, F, C, H, W] DiT scale
        self.ctx = torch.cat([truth[:, :self.P], made], 1)  # [N, P + F, C, H, W]
        self.truth, self.acts, self.prompts, self.K = truth, r["actions"].float(), r["prompts"], K
        H, W = truth.shape[3:]
        seen = seen_mask(self.acts[:, self.P:], H, W, texels_per_latent)  # [N, F, 1, H, W]
        self.w = torch.cat([torch.ones(len(truth), self.P, 1, H, W), seen + unseen * (1 - seen)], 1)
        if self.ctx.shape[1] < K:
            raise SystemExit(f"{path}: clips of {self.ctx.shape[1]} frames, training needs {K}")
        print(f"rollouts: {len(truth)} clips of {self.P} + {made.shape[1]} frames, seen share "
              f"{seen.mean():.2f}", flush=True)

    def sample(self, rng, B):
        ci = rng.integers(len(self.truth), size=B)
        s0 = rng.integers(0, self.ctx.shape[1] - self.K + 1, size=B)
        pick = lambda x: torch.stack([x[c, s:s + self.K] for c, s in zip(ci, s0)])
        return (pick(self.ctx), pick(self.acts), pick(self.truth), [self.prompts[c] for c in ci],
                pick(self.w)[:, 1:])


def encode_text(te, tok, prompts):
    ids, lens = tok.batch(prompts)
    out = te(ids, lens)
    return out, lens


# ---------------------------------------------------------------------------------------------
# The configuration: every flag of this script is a field here (field name = flag, - for _).

def arg(default=None, help="", **argparse_kw):
    """A TrainConfig field and its command-line flag; argparse_kw go to add_argument (type, choices...)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=dict(help=help, **argparse_kw))
    return field(default=default, metadata=dict(help=help, **argparse_kw))


@dataclass
class TrainConfig:
    # inputs and outputs
    data: str = arg(None, "the dataset folder (tools/oracle's episodes)", required=True)
    run: str = arg(None, "the run folder: checkpoints, log, cached latents, tokenizer", required=True)
    ae: str = arg(None, "the autoencoder run's ae_final.pt (its encoder makes the latents)")
    init_world: str = arg(None, "start a new run from an exported world package: its DiT, text encoder, "
                                "tokenizer, encoder and latent scale (the optimiser starts afresh)")
    rollouts: str = arg(None, "ro: rollout_latents.py output (the model's own made latents with the oracle's)")
    limit: int = arg(None, "use only the first N episodes", type=int)
    extra_prompts: str = arg(None, "a text file of more prompts for the tokenizer's corpus")
    # what to train and for how long
    stage: str = arg("df", "df: diffusion forcing on oracle context; sf: one chunk on a self-made rollout; "
                           "sfd: diffusion forcing on a self-made rollout (every chunk after the priming); "
                           "roll: back-propagate through a whole rollout (chunk 1); "
                           "ro: df whose context is the model's own stored rollouts (--rollouts), targets the "
                           "oracle's latents on the pixels the priming showed (chunk 1)",
                     choices=["df", "sf", "sfd", "roll", "ro"])
    minutes: float = arg(30, "wall-clock budget of the stage (resumes count the time already spent)", type=float)
    max_steps: int = arg(10 ** 9, "stop at this global step", type=int)
    ckpt_minutes: float = arg(4, "minutes between checkpoints", type=float)
    # optimiser
    batch: int = arg(4, "clips per step", type=int)
    lr: float = arg(3e-4, "peak learning rate", type=float)
    min_lr: float = arg(0.1, "cosine decay over the stage to this share of --lr", type=float)
    warmup: int = arg(50, "steps of linear LR warm-up at the start of a stage", type=int)
    ema_decay: float = arg(0.999, "decay of the exported EMA weights", type=float)
    # clips
    frames: int = arg(12, "frames per training clip", type=int)
    chunk: int = arg(3, "frames per chunk (the sampler's)", type=int)
    switch_p: float = arg(0.25, "share of clips that hold a prompt switch at an inner chunk boundary", type=float)
    # the model (a new run; a resumed or --init-world run keeps its own)
    dim: int = arg(192, "DiT width", type=int)
    heads: int = arg(2, "DiT attention heads", type=int)
    layers: int = arg(4, "DiT blocks", type=int)
    ffn: int = arg(768, "DiT feed-forward width", type=int)
    freq_dim: int = arg(256, "width of the timestep's sinusoidal embedding", type=int)
    text_dim: int = arg(64, "text encoder width", type=int)
    text_len: int = arg(16, "prompt tokens", type=int)
    vocab: int = arg(256, "tokenizer vocabulary of a new run", type=int)
    # the sampler the stages emulate
    steps: list = arg([1000, 750, 500, 250], "the sampler's steps", type=int, nargs="+")
    shift: float = arg(5.0, "the sampler's timestep shift", type=float)
    budget: int = arg(9, "cache frames emulated in sf rollouts", type=int)
    prime: int = arg(3, "sf: oracle frames that prime a rollout (rounded up to chunks)", type=int)
    # losses
    motion_weight: float = arg(0.0, "extra loss weight on latent pixels that change from the previous frame "
                                    "(action emphasis)", type=float)
    continuous_p: float = arg(0.2, "df: share of noisy chunks at a random level instead of one of the "
                                   "sampler's", type=float)
    context_noise_max: float = arg(0.0, "df: largest sigma of the noise put on context frames (0: always clean)",
                                   type=float)
    context_noise_p: float = arg(0.5, "df: share of clips with noisy context", type=float)
    ro_df_share: float = arg(0.5, "ro: share of each batch that is plain df on oracle context (keeps what df "
                                  "taught)", type=float)
    roll_unseen_weight: float = arg(0.1, "roll: loss weight of latent pixels the priming did not show (the seen "
                                         "ones weigh 1)", type=float)
    roll_stats_weight: float = arg(0.0, "roll: weight of matching each made frame's texture statistics to the "
                                        "oracle's", type=float)
    roll_swd_weight: float = arg(0.0, "roll: weight of the sliced Wasserstein distance of each made frame's 3x3 "
                                      "latent patches to the oracle frame's (texture_swd)", type=float)
    roll_temporal_weight: float = arg(0.0, "roll: weight of matching each made frame's change from the one "
                                           "before it (moved with the camera) to the oracle's, over every pixel: "
                                           "what is drawn must move with the keys", type=float)
    texels_per_latent: int = arg(4, "roll: oracle texels per latent pixel", type=int)


def parse_config(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for f in fields(TrainConfig):
        kw = dict(f.metadata)
        if not kw.get("required"):
            kw["default"] = f.default_factory() if f.default_factory is not MISSING else f.default
        ap.add_argument("--" + f.name.replace("_", "-"), **kw)
    cfg = TrainConfig(**vars(ap.parse_args(argv)))
    if not cfg.ae and not cfg.init_world:
        ap.error("give --ae (an autoencoder run) or --init-world (a world package)")
    if cfg.stage == "ro" and (not cfg.rollouts or cfg.chunk != 1):
        ap.error("--stage ro needs --rollouts and --chunk 1")
    if cfg.stage == "roll" and cfg.chunk != 1:
        ap.error("--stage roll needs --chunk 1")
    return cfg


# ---------------------------------------------------------------------------------------------
# The models, their optimiser and where the run stands.

@dataclass
class Models:
    dit: WanDiT
    te: TextEncoder
    opt: torch.optim.Optimizer
    ema: common.EMA
    ema_te: common.EMA
    params: list


@dataclass
class Progress:
    step: int = 0
    stage_start: int = 0  # the step the current stage began at (its LR warm-up counts from there)
    stage_elapsed: float = 0.0  # seconds of this stage done before this process started


def build_models(cfg, ck, tok, lat_ch):
    """A new DiT + text encoder, initialised from --init-world, or resumed from the run's checkpoint `ck`."""
    if ck:
        dcfg = ck["dit_config"]
    elif cfg.init_world:
        dcfg = load_world(cfg.init_world)["dit"].config
    else:
        dcfg = dict(text_len=cfg.text_len, dim=cfg.dim, ffn_dim=cfg.ffn, freq_dim=cfg.freq_dim,
                    text_dim=cfg.text_dim, num_heads=cfg.heads, num_layers=cfg.layers, in_dim=lat_ch, out_dim=lat_ch)
    dit = WanDiT(**dcfg)
    te = TextEncoder(tok.vocab, dim=dcfg["text_dim"], heads=2, layers=2, max_len=cfg.text_len, num_classes=8)
    params = list(dit.parameters()) + list(te.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.99))
    m = Models(dit, te, opt, common.EMA(dit, cfg.ema_decay), common.EMA(te, cfg.ema_decay), params)
    progress = Progress()
    if not ck and cfg.init_world:
        w0 = load_world(cfg.init_world)
        if w0["dit"].config != dcfg:
            raise SystemExit(f"{cfg.init_world}: DiT config {w0['dit'].config} is not the run's {dcfg}")
        dit.load_state_dict(w0["dit"].state_dict())
        te.load_state_dict(w0["te"].state_dict(), strict=False)  # the theme head (aux) is not exported
        m.ema, m.ema_te = common.EMA(dit, cfg.ema_decay), common.EMA(te, cfg.ema_decay)
        print(f"initialised from {cfg.init_world}", flush=True)
    if ck:
        dit.load_state_dict(ck["dit"]); te.load_state_dict(ck["te"]); opt.load_state_dict(ck["opt"])
        m.ema.shadow, m.ema_te.shadow = ck["ema"], ck["ema_te"]
        same_stage = ck["stage"] == cfg.stage
        progress = Progress(step=ck["step"], stage_elapsed=ck["stage_elapsed"] if same_stage else 0.0,
                            stage_start=ck.get("stage_start", ck["step"]) if same_stage else ck["step"])
        print(f"resumed at step {progress.step} (stage {ck['stage']} -> {cfg.stage}, "
              f"{progress.stage_elapsed:.0f}s into it)", flush=True)
    print(f"DiT params {sum(p.numel() for p in dit.parameters()) / 1e6:.2f}M", flush=True)
    return m, progress


# ---------------------------------------------------------------------------------------------
# The stages. Each takes the step's batch and returns (loss, aux_loss, extra log fields).

@dataclass
class Setup:
    """What every step of a stage shares: the config, the sampler's levels, the df layout."""
    cfg: TrainConfig
    tok: Tokenizer
    rng: np.random.Generator
    sig: list  # the sampler's sigmas, one per step
    src: torch.Tensor  # [Fs] clip frame of each sequence frame of the teacher-forcing layout
    nc: int  # clean (context) frames at the head of that layout
    tf_mask: torch.Tensor  # [Fs hw, Fs hw] its additive attention mask
    ro: Rollouts = None  # stage ro's stored rollouts


@dataclass
class Batch:
    x0: torch.Tensor  # [B, K, C, H, W] oracle latents, DiT scale
    acts: torch.Tensor  # [B, K, 8] held keys
    prompts: list  # B prompts (each clip's last)
    themes: torch.Tensor  # [B] theme of each clip's last prompt (the text encoder's aux target)
    last: torch.Tensor  # [B] clip frame where the last prompt starts: frames before are context only
    txt: torch.Tensor = None  # [B, L, text_dim] encoded prompts
    lens: torch.Tensor = None  # [B] prompt lengths


def teacher_forced_loss(s, m, b, ctx_x, t_ctx, ctx_emb, cont_p, pix_w=1.0):
    """df, sfd, ro: noisy copies of chunks 1..n-1 on the clean context ctx_x [B, nc, C, H, W] (levels mostly
    the sampler's own), one forward pass through the teacher-forcing layout, flow-matching loss."""
    a, x0, C3 = s.cfg, b.x0, s.cfg.chunk
    B, K, nch = x0.shape[0], a.frames, a.frames // a.chunk
    sig_t = torch.tensor(s.sig, dtype=torch.float32)
    lv = sig_t[torch.randint(0, len(s.sig), (B, nch - 1))]  # [B, nch - 1]
    cont = torch.rand(B, nch - 1) < cont_p
    lv = torch.where(cont, warp(torch.rand(B, nch - 1), a.shift), lv)
    sv = lv.repeat_interleave(C3, 1)  # [B, K - chunk]
    target_x0 = x0[:, C3:]  # [B, K - chunk, C, H, W]
    noise = torch.randn_like(target_x0)
    s5 = sv[:, :, None, None, None]
    seq = torch.cat([ctx_x, (1 - s5) * target_x0 + s5 * noise], 1)  # [B, Fs, C, H, W]
    t = torch.cat([t_ctx, sv * 1000], 1)  # [B, Fs]
    v = m.dit(seq, t, b.acts[:, s.src], None, mask=s.tf_mask, frame_pos=s.src, ctx=ctx_emb)[:, s.nc:].float()
    # chunks before the clip's last prompt switch are context only
    w = (torch.arange(C3, K)[None, :] >= b.last[:, None]).float()  # [B, K - chunk]
    pw = motion_weights(target_x0, x0[:, C3 - 1], a.motion_weight) * pix_w
    per = ((v - (noise - target_x0)) ** 2 * pw).mean((2, 3, 4)) / (
        torch.ones_like(v) * pw).mean((2, 3, 4)).clamp(min=1e-6)
    return (per * w).sum() / w.sum().clamp(min=1)


def stage_df(s, m, b, aux_loss):
    """Diffusion forcing: oracle frames as context, sometimes with a little noise (said through t): the
    model learns not to trust its context blindly (the engine's context_noise)."""
    a, x0 = s.cfg, b.x0
    B = x0.shape[0]
    sc = torch.rand(B) * a.context_noise_max * (torch.rand(B) < a.context_noise_p).float()  # [B]
    sc5 = sc[:, None, None, None, None]
    ctx_x = (1 - sc5) * x0[:, :s.nc] + sc5 * torch.randn_like(x0[:, :s.nc])  # [B, nc, C, H, W]
    t_ctx = (sc * 1000)[:, None].expand(B, s.nc)  # [B, nc]
    loss = teacher_forced_loss(s, m, b, ctx_x, t_ctx, m.dit.embed_context(b.txt), a.continuous_p)
    return loss, aux_loss, {}


def stage_sfd(s, m, b, aux_loss):
    """Diffusion forcing on the engine's own rollout as context: prime with oracle chunks, generate the
    rest with the sampler (a window of --budget frames), then df's loss on every later chunk."""
    a, x0, C3 = s.cfg, b.x0, s.cfg.chunk
    B = x0.shape[0]
    P = max(1, -(-a.prime // C3))
    ctx_emb = m.dit.embed_context(b.txt)
    with torch.no_grad():
        ctxd = ctx_emb.detach()
        ctx_x = x0[:, :P * C3]
        while ctx_x.shape[1] < s.nc:
            F_ = ctx_x.shape[1]
            lo = max(0, F_ - a.budget)
            g, _ = denoise_chunk(m.dit, ctx_x[:, lo:], lo, torch.randn(B, C3, *x0.shape[2:]),
                                 b.acts[:, lo:F_ + C3], ctxd, s.sig, C3)
            ctx_x = torch.cat([ctx_x, g.float()], 1)
    loss = teacher_forced_loss(s, m, b, ctx_x, torch.zeros(B, s.nc), ctx_emb, 0.0)
    return loss, aux_loss, {}


def stage_ro(s, m, b, aux_loss):
    """df on a mixed batch: the first --ro-df-share of it on oracle context, the rest on a window of a
    stored rollout of the model's own, targets the oracle's latents, weighted by what the priming showed."""
    a, x0 = s.cfg, b.x0
    B = x0.shape[0]
    nd = int(round(B * a.ro_df_share))
    rx, ra, rt, rp, rw = s.ro.sample(s.rng, B - nd)
    ctx_x = torch.cat([x0[:nd, :s.nc], rx[:, :s.nc]])  # [B, nc, C, H, W]
    pix_w = torch.cat([torch.ones(nd, *rw.shape[1:]), rw])  # [B, K - 1, 1, H, W]
    txt, lens = encode_text(m.te, s.tok, b.prompts[:nd] + rp)
    txt = txt.float()
    aux = m.te.aux(m.te.pooled(txt[:nd], lens[:nd])).float()
    aux_loss = torch.nn.functional.cross_entropy(aux, b.themes[:nd])
    mixed = Batch(x0=torch.cat([x0[:nd], rt]), acts=torch.cat([b.acts[:nd], ra]), prompts=b.prompts[:nd] + rp,
                  themes=b.themes, last=torch.cat([b.last[:nd], torch.zeros(B - nd, dtype=b.last.dtype)]),
                  txt=txt, lens=lens)
    loss = teacher_forced_loss(s, m, mixed, ctx_x, torch.zeros(B, s.nc), m.dit.embed_context(txt),
                               a.continuous_p, pix_w)
    return loss, aux_loss, {}


def stage_roll(s, m, b, aux_loss):
    """The engine's loop, differentiable (chunk 1): prime with --prime oracle frames, make every later frame
    from a window of --budget frames before it, and regress the made frames on the oracle's."""
    a, x0 = s.cfg, b.x0
    B, K, P = x0.shape[0], a.frames, a.prime
    ctx_emb = m.dit.embed_context(b.txt)
    made = [x0[:, i] for i in range(P)]  # [B, C, H, W] each; oracle, then the model's
    for f in range(P, K):
        lo = max(0, f - a.budget)
        ctx_x = torch.stack(made[lo:f], 1)  # [B, f - lo, C, H, W]
        xn = torch.randn(B, 1, *x0.shape[2:])  # [B, 1, C, H, W]
        x0p, _ = denoise_chunk(m.dit, ctx_x, lo, xn, b.acts[:, lo:f + 1], ctx_emb, s.sig, 1)
        made.append(x0p[:, 0].float())
    pred = torch.stack(made[P:], 1)  # [B, K - P, C, H, W]
    target = x0[:, P:]  # [B, K - P, C, H, W]
    w = (torch.arange(P, K)[None, :] >= b.last[:, None]).float()  # [B, K - P]

    def over_frames(v):  # mean of [B, K - P] over the frames after the last prompt switch
        return (v * w).sum() / w.sum().clamp(min=1)
    # what the priming showed weighs 1, what the camera revealed since --roll-unseen-weight
    seen = seen_mask(b.acts[:, P:], x0.shape[3], x0.shape[4], a.texels_per_latent)  # [B, K - P, 1, H, W]
    pix = (seen + a.roll_unseen_weight * (1 - seen)) * motion_weights(target, x0[:, P - 1], a.motion_weight)
    per = ((pred - target) ** 2 * pix).mean((2, 3, 4)) / pix.mean((2, 3, 4)).clamp(min=1e-6)  # [B, K - P]
    stats = ((texture_stats(pred) - texture_stats(target)) ** 2).mean(-1)  # [B, K - P]
    if a.roll_stats_weight > 0:  # keep the texture's amplitude: regression alone blurs
        per = per + a.roll_stats_weight * stats
    extra = dict(stats=over_frames(stats).item())
    if a.roll_swd_weight > 0:
        swd = texture_swd(pred, target)  # [B, K - P]
        per = per + a.roll_swd_weight * swd
        extra["swd"] = over_frames(swd).item()
    if a.roll_temporal_weight > 0:
        # invented texture included: a frame is the frame before it moved by the keys,
        # plus what changed in the oracle over that step (water, fire, creatures)
        prev_pred = torch.cat([x0[:, P - 1:P], pred[:, :-1]], 1)  # [B, K - P, C, H, W]
        moved_pred, ok = align_previous(prev_pred, b.acts[:, P:], a.texels_per_latent)
        moved_tgt, _ = align_previous(x0[:, P - 1:K - 1], b.acts[:, P:], a.texels_per_latent)
        d = (pred - moved_pred) - (target - moved_tgt)  # [B, K - P, C, H, W]
        temporal = (d ** 2 * ok).sum((2, 3, 4)) / (ok.sum((2, 3, 4)) * d.shape[2]).clamp(min=1)  # [B, K - P]
        per = per + a.roll_temporal_weight * temporal
        extra["temporal"] = over_frames(temporal).item()
    return over_frames(per), aux_loss, extra


def stage_sf(s, m, b, aux_loss):
    """Self forcing: prime with oracle chunks (as the engine does), roll out the chunks up to a random c
    with the sampler, then train chunk c at one of the sampler's own noisy inputs on that context."""
    a, x0, C3 = s.cfg, b.x0, s.cfg.chunk
    B, nch = x0.shape[0], a.frames // C3
    P = max(1, -(-a.prime // C3))
    c = int(s.rng.integers(max(P, int(b.last.max()) // C3), nch))
    ctx_emb = m.dit.embed_context(b.txt)
    with torch.no_grad():
        ctxd = ctx_emb.detach()
        frames = x0[:, :P * C3]  # [B, F, C, H, W] grows chunk by chunk
        for ci in range(P, c):
            lo = max(0, frames.shape[1] - a.budget)
            xn = torch.randn(B, C3, *x0.shape[2:])
            g, _ = denoise_chunk(m.dit, frames[:, lo:], lo, xn, b.acts[:, lo:(ci + 1) * C3], ctxd, s.sig, C3)
            frames = torch.cat([frames, g.float()], 1)
        k = int(s.rng.integers(0, len(s.sig)))
        lo = max(0, frames.shape[1] - a.budget)
        xn = torch.randn(B, C3, *x0.shape[2:])
        _, xk = denoise_chunk(m.dit, frames[:, lo:], lo, xn, b.acts[:, lo:(c + 1) * C3], ctxd, s.sig, C3,
                              stop_at=k)
    ctx_x = frames[:, lo:]  # [B, Fc, C, H, W]
    Fc = ctx_x.shape[1]
    seq = torch.cat([ctx_x, xk.float()], 1)  # [B, Fc + chunk, C, H, W]
    t = torch.cat([torch.zeros(B, Fc), torch.full((B, C3), s.sig[k] * 1000)], 1)  # [B, Fc + chunk]
    v = m.dit(seq, t, b.acts[:, lo:(c + 1) * C3], None, start_frame=lo, chunk=C3, ctx=ctx_emb)[:, Fc:]
    x0p = xk.float() - s.sig[k] * v.float()  # [B, chunk, C, H, W]
    target = x0[:, c * C3:(c + 1) * C3]
    loss = ((x0p - target) ** 2 * motion_weights(target, x0[:, c * C3 - 1], a.motion_weight)).mean()
    return loss, aux_loss, dict(sf_chunk=c, sf_step=k)


STAGES = dict(df=stage_df, sf=stage_sf, sfd=stage_sfd, roll=stage_roll, ro=stage_ro)


# ---------------------------------------------------------------------------------------------
# The loop.

def learning_rate(cfg, progress, frac):
    """Warm-up (200 steps from the run's start, --warmup from the stage's), then cosine to --min-lr."""
    warm = min(1.0, (progress.step + 1) / 200, (progress.step - progress.stage_start + 1) / cfg.warmup)
    return cfg.lr * warm * (cfg.min_lr + (1 - cfg.min_lr) * 0.5 * (1 + np.cos(np.pi * frac)))


def train(cfg, m, progress, tok, episodes, scale):
    """Run cfg.stage until --minutes or --max-steps, logging every 10 steps and checkpointing."""
    log = common.Log(os.path.join(cfg.run, "dit_log.jsonl"))
    rng = np.random.default_rng(progress.step * 7 + 3)
    torch.manual_seed(progress.step * 7 + 5)
    K, C3 = cfg.frames, cfg.chunk
    switches = data.switch_points(episodes, C3)
    print(f"{len(switches)} prompt switches on chunk boundaries", flush=True)
    hh, ww = episodes[0]["lat"].shape[2] // 2, episodes[0]["lat"].shape[3] // 2
    src, nc, tf_mask = teacher_forcing_layout(K, C3, hh * ww, cfg.budget // C3 if cfg.stage == "sfd" else None)
    ro = Rollouts(cfg.rollouts, K, cfg.texels_per_latent, cfg.roll_unseen_weight) if cfg.stage == "ro" else None
    s = Setup(cfg, tok, rng, step_sigmas(tuple(cfg.steps), cfg.shift), src, nc, tf_mask, ro)
    stage_loss = STAGES[cfg.stage]
    t0 = time.time() - progress.stage_elapsed
    last_ck = time.time()
    budget = cfg.minutes * 60

    def save(done=False):
        common.save_ckpt(cfg.run, dict(dit=m.dit.state_dict(), te=m.te.state_dict(), opt=m.opt.state_dict(),
                                       ema=m.ema.shadow, ema_te=m.ema_te.shadow, step=progress.step, stage=cfg.stage,
                                       stage_start=progress.stage_start, stage_elapsed=time.time() - t0,
                                       dit_config=m.dit.config, scale=scale, te_config=m.te.config, done=done))

    acc = []
    while progress.step < cfg.max_steps and time.time() - t0 < budget:
        lr = learning_rate(cfg, progress, min(1.0, (time.time() - t0) / budget))
        for g in m.opt.param_groups:
            g["lr"] = lr
        b = Batch(*batch(rng, episodes, cfg.batch, K, C3, switches, cfg.switch_p))
        with common.autocast():
            txt, b.lens = encode_text(m.te, tok, b.prompts)
            b.txt = txt.float()
            aux = m.te.aux(m.te.pooled(b.txt, b.lens)).float()
            aux_loss = torch.nn.functional.cross_entropy(aux, b.themes)
            loss, aux_loss, extra = stage_loss(s, m, b, aux_loss)
        total = loss + 0.1 * aux_loss
        m.opt.zero_grad(set_to_none=True)
        total.backward()
        gn = torch.nn.utils.clip_grad_norm_(m.params, 1.0)
        m.opt.step()
        m.ema.update(m.dit); m.ema_te.update(m.te)
        progress.step += 1
        acc.append(loss.item())
        if progress.step % 10 == 0:
            log(step=progress.step, stage=cfg.stage, loss=float(np.mean(acc)), aux=aux_loss.item(), lr=lr,
                gnorm=float(gn), **extra)
            print(f"{cfg.stage} step {progress.step} loss {np.mean(acc):.4f} aux {aux_loss.item():.3f} "
                  f"{time.time() - t0:.0f}s", flush=True)
            acc = []
        if time.time() - last_ck > cfg.ckpt_minutes * 60:
            save()
            last_ck = time.time()
    save(done=True)
    print(f"stage {cfg.stage} finished at step {progress.step}", flush=True)


def main(argv=None):
    cfg = parse_config(argv)
    episodes, val, tok, scale = prepare(cfg)
    print(f"DiT: {len(episodes)} train episodes, {len(val)} held out, vocab {tok.vocab}, latent scale {scale:.4f}",
          flush=True)
    m, progress = build_models(cfg, common.latest_ckpt(cfg.run), tok, episodes[0]["lat"].shape[1])
    train(cfg, m, progress, tok, episodes, scale)


if __name__ == "__main__":
    main()
