"""The small prompt encoder of WORLD_FORMAT.md (pre-LN transformer over sentencepiece ids)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class TBlock(nn.Module):
    def __init__(self, D, heads, eps):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(D, eps=eps)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(D, 3 * D)
        self.attn.o = nn.Linear(D, D)
        self.norm2 = nn.LayerNorm(D, eps=eps)
        self.ffn = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(approximate="tanh"), nn.Linear(4 * D, D))

    def forward(self, x, key_mask):
        B, N, D = x.shape
        H = self.heads
        h = self.norm1(x)
        q, k, v = self.attn.qkv(h).view(B, N, 3, H, D // H).permute(2, 0, 3, 1, 4)
        att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(D // H)
        if key_mask is not None:
            att = att.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        out = torch.matmul(att.softmax(-1), v).transpose(1, 2).reshape(B, N, D)
        x = x + self.attn.o(out)
        return x + self.ffn(self.norm2(x))


class TextEncoder(nn.Module):
    def __init__(self, vocab, dim=64, heads=2, layers=2, max_len=16, eps=1e-5, num_classes=0):
        super().__init__()
        self.config = dict(num_heads=heads, num_layers=layers, max_len=max_len, eps=eps)
        self.token_embedding = nn.Embedding(vocab, dim)
        nn.init.normal_(self.token_embedding.weight, std=0.5)
        self.pos_embedding = nn.Parameter(torch.randn(max_len, dim) * 0.1)
        self.blocks = nn.ModuleList([TBlock(dim, heads, eps) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim, eps=eps)
        # auxiliary theme classifier (training only, not exported)
        self.aux = nn.Linear(dim, num_classes) if num_classes else None

    def forward(self, ids, lengths):
        """ids [B, L] (padded), lengths [B] -> out [B, L, D] with rows >= length zeroed."""
        B, L = ids.shape
        x = self.token_embedding(ids) + self.pos_embedding[:L]
        key_mask = torch.arange(L)[None, :] < lengths[:, None]
        for b in self.blocks:
            x = b(x, key_mask)
        x = self.norm(x)
        return x * key_mask[..., None].to(x.dtype)

    def pooled(self, out, lengths):
        return out.sum(1) / lengths[:, None].clamp(min=1).to(out.dtype)

    def export_state(self):
        return {k: v.detach().float().contiguous() for k, v in self.state_dict().items() if not k.startswith("aux.")}


class Tokenizer:
    def __init__(self, model_path, max_len=16):
        import sentencepiece as spm
        self.sp = spm.SentencePieceProcessor(model_file=str(model_path))
        self.max_len = max_len

    @property
    def vocab(self):
        return self.sp.get_piece_size()

    def encode(self, text):
        ids = self.sp.encode(text, out_type=int)[: self.max_len]
        return ids if ids else [0]

    def batch(self, texts):
        enc = [self.encode(t) for t in texts]
        L = max(len(e) for e in enc)
        ids = torch.zeros(len(enc), L, dtype=torch.long)
        for i, e in enumerate(enc):
            ids[i, : len(e)] = torch.tensor(e)
        return ids, torch.tensor([len(e) for e in enc])


def train_tokenizer(texts, out_prefix, vocab_size=256):
    import io
    import sentencepiece as spm
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(list(texts) * 4), model_writer=model,
                                   vocab_size=vocab_size, model_type="unigram", hard_vocab_limit=False,
                                   normalization_rule_name="nmt_nfkc_cf", character_coverage=1.0,
                                   bos_id=-1, eos_id=-1, unk_id=0, pad_id=-1, minloglevel=2)
    with open(str(out_prefix) + ".model", "wb") as f:
        f.write(model.getvalue())
    return str(out_prefix) + ".model"
