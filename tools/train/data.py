"""Oracle episodes (tools/oracle `oracle_dataset` output) and random clips of them.

Episode file (safetensors): frames F16/F32 [F, 3, H, W] in [0,1], actions F32 [F, 8]
multi-hot (W, A, S, D, up, down, left, right), theme F32 [F], metadata `prompts`:
JSON list of {frame, text} (the prompt in force from that frame on).
"""
import glob
import json
import os

import numpy as np

import st

ACTIONS = ["W", "A", "S", "D", "up", "down", "left", "right"]


def prompt_per_frame(prompts, F):
    prompts = sorted(prompts, key=lambda p: int(p["frame"]))
    out = []
    j = -1
    for f in range(F):
        while j + 1 < len(prompts) and int(prompts[j + 1]["frame"]) <= f:
            j += 1
        out.append(prompts[max(j, 0)]["text"] if prompts else "")
    return out


def load_episode(path):
    t, meta = st.load(path)
    frames = t["frames"].astype(np.float16)
    F = frames.shape[0]
    prompts = json.loads(meta.get("prompts", "[]"))
    theme = t["theme"].astype(np.int64) if "theme" in t else np.zeros(F, np.int64)
    return dict(path=path, frames=frames, actions=t["actions"].astype(np.float32), theme=theme,
                prompts=prompt_per_frame(prompts, F), meta=meta)


def load_dir(d, limit=None):
    files = sorted(glob.glob(os.path.join(d, "*.safetensors")))
    if limit:
        files = files[:limit]
    return [load_episode(f) for f in files]


def corpus(episodes, extra_file=None):
    texts = set()
    for e in episodes:
        texts.update(e["prompts"])
    if extra_file and os.path.exists(extra_file):
        texts.update(l.strip() for l in open(extra_file) if l.strip())
    return sorted(texts)


def switch_points(episodes, align=3):
    """(episode index, frame) of every prompt change that falls on a multiple of `align`."""
    out = []
    for i, e in enumerate(episodes):
        for f in range(1, len(e["prompts"])):
            if e["prompts"][f] != e["prompts"][f - 1] and f % align == 0:
                out.append((i, f))
    return out


def sample_aligned_clip(rng, episodes, K, key, align, switches, switch_p):
    """Like sample_clip, but the clip starts on a multiple of `align` (chunk boundaries of the clip
    are chunk boundaries of the episode, where its prompt changes fall), and with probability
    `switch_p` the clip holds a prompt change at one of its inner chunk boundaries.
    Returns (array, actions, prompts, theme, first frame of the last prompt in the clip)."""
    if switches and rng.random() < switch_p:
        i, f = switches[rng.integers(len(switches))]
        e = episodes[i]
        F = e[key].shape[0]
        inner = [b for b in range(align, K, align) if 0 <= f - b and f - b + K <= F]
        if inner:
            s = f - inner[rng.integers(len(inner))]
            return _clip(e, key, s, K)
    while True:
        e = episodes[rng.integers(len(episodes))]
        F = e[key].shape[0]
        if F >= K:
            break
    s = int(rng.integers(0, (F - K) // align + 1)) * align
    return _clip(e, key, s, K)


def _clip(e, key, s, K):
    pr = e["prompts"][s:s + K]
    last = K - 1
    while last > 0 and pr[last - 1] == pr[-1]:
        last -= 1
    return e[key][s:s + K], e["actions"][s:s + K], pr, e["theme"][s:s + K], last


def sample_clip(rng, episodes, K, key="frames"):
    """Random clip of K frames: (array [K, ...], actions [K, 8], prompts [K], theme [K])."""
    while True:
        e = episodes[rng.integers(len(episodes))]
        F = e[key].shape[0]
        if F >= K:
            break
    s = int(rng.integers(0, F - K + 1))
    return e[key][s:s + K], e["actions"][s:s + K], e["prompts"][s:s + K], e["theme"][s:s + K]


# ---------------------------------------------------------------- synthetic data (smoke test)
SYNTH_PROMPTS = [["a summer meadow", "green grass in summer"], ["a snowy forest", "winter woods in snow"],
                 ["desert dunes", "sand dunes in the desert"]]
SYNTH_PAL = np.array([[[0.2, 0.6, 0.2], [0.4, 0.8, 0.3], [0.1, 0.3, 0.7]],
                      [[0.9, 0.9, 0.95], [0.6, 0.7, 0.8], [0.1, 0.3, 0.2]],
                      [[0.9, 0.8, 0.5], [0.8, 0.6, 0.3], [0.6, 0.4, 0.2]]], np.float32)


def synth_episode(rng, F=24, size=64, theme=None):
    """Tiny stand-in for an oracle episode: a palette-coloured tiled map panned by the actions."""
    th = int(rng.integers(3)) if theme is None else theme
    M = 256
    cells = rng.integers(0, 3, size=(M // 8, M // 8))
    world = SYNTH_PAL[th][np.kron(cells, np.ones((8, 8), np.int64))]  # [M, M, 3]
    x = y = M // 2 - size // 2
    frames, acts = [], []
    a = np.zeros(8, np.float32)
    for f in range(F):
        if f == 0 or rng.random() < 0.2:
            a = np.zeros(8, np.float32)
            a[rng.integers(8)] = 1.0
        dx = 2 * (a[3] - a[1]) + (a[7] - a[6])
        dy = 2 * (a[2] - a[0]) + (a[5] - a[4])
        x = int(np.clip(x + dx, 0, M - size))
        y = int(np.clip(y + dy, 0, M - size))
        frames.append(world[y:y + size, x:x + size].transpose(2, 0, 1))
        acts.append(a.copy())
    text = SYNTH_PROMPTS[th][int(rng.integers(2))]
    return dict(path="synthetic", frames=np.stack(frames).astype(np.float16), actions=np.stack(acts),
                theme=np.full(F, th, np.int64), prompts=[text] * F, meta={})


def write_synth_dir(d, n, F=24, size=64, seed=0):
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        e = synth_episode(rng, F, size)
        st.save(os.path.join(d, f"ep{i:04d}.safetensors"),
                {"frames": e["frames"], "actions": e["actions"], "theme": e["theme"].astype(np.float32)},
                {"prompts": json.dumps([{"frame": 0, "text": e["prompts"][0]}])})
