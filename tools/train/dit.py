"""The causal Wan DiT of docs/model.md §1 (exact math) plus the per-frame action embedding
of WORLD_FORMAT.md. Training runs whole clips under a block-causal mask by chunks
(tokens see their own chunk and every earlier chunk), which is what the engine's
KV cache computes chunk by chunk.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_CONFIG = dict(model_type="t2v", patch_size=[1, 2, 2], text_len=16, in_dim=4, dim=192, ffn_dim=768,
                      freq_dim=256, text_dim=64, out_dim=4, num_heads=2, num_layers=4, local_attn_size=-1,
                      sink_size=0, qk_norm=True, cross_attn_norm=True, eps=1e-6, action_dim=8)


def sinusoidal_embedding(dim, t):
    """t: float tensor [...]; float64 sinusoid, cosines first."""
    half = dim // 2
    t = t.to(torch.float64)
    w = torch.pow(10000.0, -torch.arange(half, dtype=torch.float64, device=t.device) / half)
    a = t[..., None] * w
    return torch.cat([torch.cos(a), torch.sin(a)], dim=-1)


def rope_tables(head_dim, frames, h, w, start_frame=0, frame_pos=None):
    """cos/sin [N, head_dim/2] (float32) for tokens (frame, row, col) in frame-row-col order.
    Frame f sits at absolute frame start_frame + f, or at frame_pos[f] when given."""
    c = head_dim // 2
    hw = c // 3
    tt = c - 2 * hw

    def part(pos, size):
        i = torch.arange(size, dtype=torch.float64)
        return pos.to(torch.float64)[:, None] / torch.pow(10000.0, 2 * i / (2 * size))

    fpos = torch.arange(start_frame, start_frame + frames) if frame_pos is None else torch.as_tensor(frame_pos)
    at = part(fpos, tt)  # [F, tt]
    ah = part(torch.arange(h), hw)
    aw = part(torch.arange(w), hw)
    ang = torch.cat([at[:, None, None, :].expand(frames, h, w, tt),
                     ah[None, :, None, :].expand(frames, h, w, hw),
                     aw[None, None, :, :].expand(frames, h, w, hw)], dim=-1).reshape(frames * h * w, c)
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    """x [B, heads, N, d] float32; consecutive pairs (x[2i], x[2i+1]) are complex numbers."""
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2).contiguous())
    return torch.view_as_real(xc * torch.complex(cos, sin)).flatten(-2)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x = x.float()
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight.float()


def layer_norm(x, eps, weight=None, bias=None):
    return F.layer_norm(x.float(), (x.shape[-1],), weight, bias, eps)


class SelfAttention(nn.Module):
    def __init__(self, dim, heads, eps):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q = RMSNorm(dim, eps)
        self.norm_k = RMSNorm(dim, eps)

    def forward(self, h, cos, sin, mask):
        B, N, D = h.shape
        H = self.heads
        q = self.norm_q(self.q(h)).view(B, N, H, -1).transpose(1, 2)
        k = self.norm_k(self.k(h)).view(B, N, H, -1).transpose(1, 2)
        v = self.v(h).view(B, N, H, -1).transpose(1, 2)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        att = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
        if mask is not None:
            att = att.float() + mask
        att = att.float().softmax(-1)
        out = torch.matmul(att.to(v.dtype) if v.dtype != torch.float32 else att, v)
        return self.o(out.transpose(1, 2).reshape(B, N, D))


class CrossAttention(nn.Module):
    def __init__(self, dim, heads, eps):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q = RMSNorm(dim, eps)
        self.norm_k = RMSNorm(dim, eps)

    def forward(self, h, ctx):
        B, N, D = h.shape
        L = ctx.shape[1]
        H = self.heads
        q = self.norm_q(self.q(h)).view(B, N, H, -1).transpose(1, 2)
        k = self.norm_k(self.k(ctx)).view(B, L, H, -1).transpose(1, 2)
        v = self.v(ctx).view(B, L, H, -1).transpose(1, 2)
        att = (torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))).float().softmax(-1)
        out = torch.matmul(att, v.float())
        return self.o(out.transpose(1, 2).reshape(B, N, D))


class GeluTanh(nn.Module):
    """GELU (tanh form) evaluated in float32: torch's bf16 GELU on the CPU is ~2x slower, and
    the next linear layer casts back under autocast anyway."""

    def forward(self, x):
        return F.gelu(x.float(), approximate="tanh")


class Block(nn.Module):
    def __init__(self, dim, ffn_dim, heads, eps):
        super().__init__()
        self.eps = eps
        self.self_attn = SelfAttention(dim, heads, eps)
        self.norm3 = nn.LayerNorm(dim, eps=eps, elementwise_affine=True)
        self.cross_attn = CrossAttention(dim, heads, eps)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), GeluTanh(), nn.Linear(ffn_dim, dim))
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim ** 0.5)

    def forward(self, x, e0, tok_per_frame, cos, sin, mask, ctx):
        # x [B, N, D] float32; e0 [B, F, 6, D] float32
        B, N, D = x.shape
        Fr = e0.shape[1]
        m = (self.modulation.float()[:, None] + e0)[:, :, :, None]  # [B, F, 6, 1, D]
        sh1, sc1, g1, sh2, sc2, g2 = m.unbind(2)  # each [B, F, 1, D], broadcast over a frame's tokens

        def fr(t):
            return t.view(B, Fr, tok_per_frame, D)

        h = (fr(layer_norm(x, self.eps)) * (1 + sc1) + sh1).view(B, N, D)
        x = (fr(x) + fr(self.self_attn(h, cos, sin, mask).float()) * g1).view(B, N, D)
        x = x + self.cross_attn(layer_norm(x, self.eps, self.norm3.weight.float(), self.norm3.bias.float()), ctx).float()
        h = (fr(layer_norm(x, self.eps)) * (1 + sc2) + sh2).view(B, N, D)
        x = (fr(x) + fr(self.ffn(h).float()) * g2).view(B, N, D)
        return x


class Head(nn.Module):
    def __init__(self, dim, out, eps):
        super().__init__()
        self.eps = eps
        self.head = nn.Linear(dim, out)
        self.modulation = nn.Parameter(torch.randn(1, 2, dim) / dim ** 0.5)


class WanDiT(nn.Module):
    def __init__(self, **cfg):
        super().__init__()
        c = dict(DEFAULT_CONFIG)
        c.update(cfg)
        self.config = c
        D = c["dim"]
        pt, ph, pw = c["patch_size"]
        self.patch = (pt, ph, pw)
        self.patch_embedding = nn.Conv3d(c["in_dim"], D, kernel_size=(pt, ph, pw), stride=(pt, ph, pw))
        self.text_embedding = nn.Sequential(nn.Linear(c["text_dim"], D), nn.GELU(approximate="tanh"), nn.Linear(D, D))
        self.time_embedding = nn.Sequential(nn.Linear(c["freq_dim"], D), nn.SiLU(), nn.Linear(D, D))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))
        if c.get("action_dim", 0):
            self.action_embedding = nn.Sequential(nn.Linear(c["action_dim"], D), nn.SiLU(), nn.Linear(D, D))
            nn.init.zeros_(self.action_embedding[2].weight)
            nn.init.zeros_(self.action_embedding[2].bias)
        self.blocks = nn.ModuleList([Block(D, c["ffn_dim"], c["num_heads"], c["eps"]) for _ in range(c["num_layers"])])
        self.head = Head(D, pt * ph * pw * c["out_dim"], c["eps"])
        # Wan init: xavier for linears, zero head
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.head.head.weight)
        nn.init.zeros_(self.head.head.bias)
        if c.get("action_dim", 0):
            nn.init.zeros_(self.action_embedding[2].weight)

    def embed_context(self, text):
        """text [B, L<=text_len, text_dim] (already zero-padded rows allowed) -> [B, text_len, dim]."""
        B, L, Td = text.shape
        tl = self.config["text_len"]
        if L < tl:
            text = torch.cat([text, text.new_zeros(B, tl - L, Td)], 1)
        return self.text_embedding(text[:, :tl])

    def forward(self, x, t, actions, text, start_frame=0, chunk=3, mask=None, ctx=None, frame_pos=None):
        """x [B, F, C, H, W], t [B, F] timesteps (0..1000), actions [B, F, A] or None,
        text [B, L, text_dim] (encoder output, zero padded), -> flow [B, F, C_out, H, W].
        `mask` [F*tpf, F*tpf] (additive) and `frame_pos` [F] replace the block-causal mask by
        chunks and the consecutive frame positions (training layouts with repeated frames)."""
        c = self.config
        B, Fr, C, H, W = x.shape
        pt, ph, pw = self.patch
        hh, ww = H // ph, W // pw
        tpf = hh * ww
        xe = self.patch_embedding(x.permute(0, 2, 1, 3, 4))  # [B, D, F, hh, ww]
        xe = xe.flatten(2).transpose(1, 2).float()  # [B, N, D]
        e = self.time_embedding(sinusoidal_embedding(c["freq_dim"], t).float())  # [B, F, D]
        if c.get("action_dim", 0):
            if actions is None:
                actions = x.new_zeros(B, Fr, c["action_dim"])
            e = e + self.action_embedding(actions.float())
        e = e.float()
        e0 = self.time_projection(e).float().view(B, Fr, 6, -1)
        if ctx is None:
            ctx = self.embed_context(text)
        cos, sin = rope_tables(c["dim"] // c["num_heads"], Fr, hh, ww, start_frame, frame_pos)
        if mask is None and chunk:
            fi = torch.arange(Fr) // chunk
            allowed = fi[None, :] <= fi[:, None]  # [F, F]
            allowed = allowed.repeat_interleave(tpf, 0).repeat_interleave(tpf, 1)
            mask = torch.zeros(Fr * tpf, Fr * tpf).masked_fill(~allowed, float("-inf"))
        for blk in self.blocks:
            xe = blk(xe, e0, tpf, cos, sin, mask, ctx)
        hm = (self.head.modulation.float()[:, None] + e[:, :, None])[:, :, :, None]  # [B, F, 2, 1, D]
        hn = layer_norm(xe, c["eps"]).view(B, Fr, tpf, -1) * (1 + hm[:, :, 1]) + hm[:, :, 0]
        out = self.head.head(hn.view(B, Fr * tpf, -1)).float()
        co = c["out_dim"]
        out = out.view(B, Fr, hh, ww, pt, ph, pw, co)
        out = out.permute(0, 1, 4, 7, 2, 5, 3, 6).reshape(B, Fr * pt, co, hh * ph, ww * pw)
        return out


def state_dict_for_export(model):
    sd = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    return sd
