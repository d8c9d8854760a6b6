"""Checks dit.py against the project's golden fixtures of the reference causal Wan model
(docs/model.md §9, chunk-wise cases): the KV cache is emulated by re-running the calls that wrote it.

  /usr/bin/python3 tools/train/check_golden.py [PREFIX]

PREFIX names a case pair PREFIX.weights.safetensors + PREFIX.case.safetensors;
the default is the repository's copy, tests/data/chunk3.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch

import st
from dit import WanDiT


def main(prefix):
    w, meta = st.load_torch(prefix + ".weights.safetensors")
    cfg = json.loads(meta["config"])
    cfg["action_dim"] = 0
    m = WanDiT(**cfg)
    m.load_state_dict(w)
    m.eval()
    c, cm = st.load_torch(prefix + ".case.safetensors")
    n = int(cm["calls"])
    chunk = int(cm["chunk"])
    slots = {}  # frame -> (x, t) of the call that last wrote it
    worst = 0.0
    with torch.no_grad():
        for i in range(n):
            x, t, s = c[f"call.{i}.x"], c[f"call.{i}.t"], int(c[f"call.{i}.start_frame"][0])
            f = x.shape[0]
            for k in range(f):
                slots[s + k] = (x[k], t[k])
            frames = sorted(k for k in slots if k < s + f)
            seq = torch.stack([slots[k][0] for k in frames])[None]
            tt = torch.stack([slots[k][1] for k in frames])[None]
            out = m(seq, tt, None, c["context"][None], start_frame=frames[0], chunk=chunk)[0, -f:]
            ref = c[f"call.{i}.flow"]
            err = ((out - ref).norm() / ref.norm()).item()
            worst = max(worst, err)
    print(f"{os.path.basename(prefix)}: {n} calls, worst relative L2 error {worst:.2e}")
    return worst


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "chunk3")
    worst = main(sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(default))
    sys.exit(0 if worst < 1e-4 else 1)
