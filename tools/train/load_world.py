"""Load an exported world package back into the PyTorch modules (for checks and rollouts)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch

import st
from autoencoder import Decoder, Encoder
from dit import WanDiT
from text_encoder import TextEncoder, Tokenizer


def load_world(path):
    w = json.load(open(os.path.join(path, "world.json")))
    f = w["files"]
    sd, meta = st.load_torch(os.path.join(path, f["dit"]))
    cfg = json.loads(meta["config"])
    dit = WanDiT(**cfg)
    dit.load_state_dict({k: v.float() for k, v in sd.items()})
    sd, meta = st.load_torch(os.path.join(path, f["text_encoder"]))
    tc = json.loads(meta["config"])
    te = TextEncoder(sd["token_embedding.weight"].shape[0], sd["token_embedding.weight"].shape[1], tc["num_heads"],
                     tc["num_layers"], tc["max_len"], tc["eps"])
    te.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False)
    sd, _ = st.load_torch(os.path.join(path, f["decoder"]))
    dec = Decoder(sd["conv_in.weight"].shape[0], sd["conv_in.weight"].shape[1],
                  len({k.split(".")[1] for k in sd if k.startswith("blocks.")}))
    dec.load_state_dict(sd)
    sd, _ = st.load_torch(os.path.join(path, f["encoder"]))
    enc = Encoder(sd["conv_in.weight"].shape[0], sd["conv_out.weight"].shape[0],
                  len({k.split(".")[1] for k in sd if k.startswith("blocks.")}))
    enc.load_state_dict(sd)
    tok = Tokenizer(os.path.join(path, f["tokenizer"]), tc["max_len"])
    for m in (dit, te, dec, enc):
        m.eval()
    return dict(world=w, dit=dit, te=te, dec=dec, enc=enc, tok=tok)


def text_context(world, prompt):
    ids, lens = world["tok"].batch([prompt])
    with torch.no_grad():
        return world["te"](ids, lens)  # [1, n, D]
