"""Smoke test of the training pipeline: tiny synthetic dataset, a few steps of every stage,
losses must go down, export must give a loadable world package. about 70 s on 2 cores.
Exits 0 with a message when torch (or sentencepiece) is missing. With WL_FRESH_WORLD_FIXTURE=DIR
it also copies the exported package to DIR/smoke and has make_fixture.py write its cases into DIR,
for the C++ side to check (ctest world_fixture_fresh).

  /usr/bin/python3 tools/train/smoke_test.py
"""
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
try:
    import numpy  # noqa: F401
    import torch  # noqa: F401
    import sentencepiece  # noqa: F401
except ImportError as e:
    print(f"SKIP: {e} (the training pipeline needs Debian's python3-torch, numpy and python3-sentencepiece)")
    sys.exit(0)


def losses(path, key):
    return [json.loads(l)[key] for l in open(path) if key in json.loads(l)]


def main():
    # Step counts, not minutes, end every stage (--minutes is only a far-off cap), so a
    # loaded machine makes this slower but never changes what is checked.
    t0 = time.time()
    import torch
    torch.manual_seed(0)
    import data
    import export
    import rollout_latents
    import train_ae
    import train_dit
    from load_world import load_world, text_context
    from sampler import generate

    # The df training layout (clean context + noisy copies under one mask) computes, for every
    # noisy chunk, exactly what the engine's block-causal call on [clean context, that chunk] does.
    from dit import WanDiT
    dit = WanDiT(dim=64, ffn_dim=128, freq_dim=32, text_dim=32, num_heads=2, num_layers=2, action_dim=8)
    for p in dit.parameters():
        torch.nn.init.normal_(p, std=0.2)
    x0, xt = torch.randn(1, 9, 4, 8, 8), torch.randn(1, 6, 4, 8, 8)
    acts, txt = torch.rand(1, 9, 8), torch.randn(1, 5, 32)
    for n in (3, 1):  # chunk-wise and frame-wise
        K = 3 * n
        xt = torch.randn(1, K - n, 4, 8, 8)
        t_noisy = torch.linspace(950.0, 600.0, K - n)[None]
        src, nc, mask = train_dit.teacher_forcing_layout(K, n, 16)
        with torch.no_grad():
            v = dit(torch.cat([x0[:, :nc], xt], 1), torch.cat([torch.zeros(1, nc), t_noisy], 1), acts[:, src], txt,
                    mask=mask, frame_pos=src)[:, nc:]
            for c in range(1, K // n):
                lo, hi = n * (c - 1), n * c  # the noisy copy of chunk c in xt
                ref = dit(torch.cat([x0[:, :n * c], xt[:, lo:hi]], 1),
                          torch.cat([torch.zeros(1, n * c), t_noisy[:, lo:hi]], 1), acts[:, :n * c + n], txt,
                          chunk=n)[:, n * c:]
                err = (v[:, lo:hi] - ref).abs().max().item()
                assert err < 1e-4, f"teacher-forcing layout differs from the chunk-wise call (chunk {n}, {c}): {err}"
    # with a window of 2 frames (the engine's window cache): noisy frame 5 sees clean frames 3 and 4,
    # which saw frames 1-3 and 2-4: frame 0 cannot reach it, frame 3 does
    src, nc, mask = train_dit.teacher_forcing_layout(6, 1, 16, context=2)
    xt, tn = torch.randn(1, 5, 4, 8, 8), torch.linspace(950.0, 600.0, 5)[None]

    def last_frame(clean):
        with torch.no_grad():
            return dit(torch.cat([clean[:, :nc], xt], 1), torch.cat([torch.zeros(1, nc), tn], 1), acts[:, src],
                       txt, mask=mask, frame_pos=src)[:, -1]
    base = last_frame(x0)
    for f, reaches in ((0, False), (3, True)):
        poked = x0.clone()
        poked[:, f] += 1.0
        moved = (last_frame(poked) - base).abs().max().item() > 1e-5
        assert moved == reaches, f"window of 2: frame {f} {'should' if reaches else 'should not'} reach frame 5"
    print("df layout ok: matches chunk-wise and frame-wise calls")

    # roll's seen mask: D (right) twice then W (forward) once reveals the 2 right columns, then
    # the top row; a look step (2 texels) makes a partly new latent pixel count as new
    right, fwd, look_right = (torch.eye(8)[i] for i in (3, 0, 7))
    m = train_dit.seen_mask(torch.stack([right, right, fwd, look_right])[None], 16, 16)[0, :, 0]  # [4, 16, 16]
    assert m[0, :, :15].all() and not m[0, :, 15].any()
    assert m[1, :, :14].all() and not m[1, :, 14:].any()
    assert m[2, 1:, :14].all() and not m[2, 0].any() and not m[2, :, 14:].any()
    assert m[3, 1:, :13].all() and not m[3, :, 13:].any()
    print("roll seen mask ok")

    # roll's temporal term: a frame made by moving the one before it with the keys aligns exactly
    # with it (D: one latent pixel right; W+D diagonal; idle), and a half-pixel look is left out
    prev = torch.randn(1, 4, 3, 16, 16)
    cur = torch.zeros_like(prev)
    cur[0, 0, :, :, :15] = prev[0, 0, :, :, 1:]  # D: the view moves right, the content left
    cur[0, 1, :, :15, :15] = prev[0, 1, :, 1:, 1:]  # S+D
    cur[0, 2] = prev[0, 2]  # idle
    back = torch.eye(8)[2]
    acts = torch.stack([right, right + back, torch.zeros(8), look_right])[None]  # [1, 4, 8]
    moved, ok = train_dit.align_previous(prev, acts)
    assert ok[0, 0, 0, :, :15].all() and not ok[0, 0, 0, :, 15].any()
    assert ok[0, 1, 0, :15, :15].all() and not ok[0, 1, 0, 15].any() and ok[0, 2].all() and not ok[0, 3].any()
    assert ((moved - cur).abs() * ok).max() == 0, "align_previous does not move frames with the camera"
    print("roll temporal alignment ok")

    # roll's texture distance: ~0 for the same texture moved elsewhere (new patches only at the
    # seams), > 0 for stripes of its colours
    tex = torch.randn(1, 1, 4, 12, 12, generator=torch.Generator().manual_seed(0))
    stripes = tex.clone()
    stripes[..., ::2, :] = tex[..., :6, :].mean()  # [1, 1, 4, 12, 12]
    assert train_dit.texture_swd(tex, torch.roll(tex, (3, 5), (-2, -1))).max() < 0.05
    assert train_dit.texture_swd(tex, stripes).min() > 0.08
    print("roll texture distance ok")

    with tempfile.TemporaryDirectory() as d:
        ds = os.path.join(d, "data")
        data.write_synth_dir(ds, 8, F=12, size=64, seed=1)
        psnr = train_ae.main(["--data", ds, "--run", f"{d}/ae", "--max-steps", "100", "--ch", "16", "--batch", "8",
                              "--lr", "3e-3", "--minutes", "30"])
        l = losses(f"{d}/ae/ae_log.jsonl", "l1")
        assert l[-1] < l[0], f"AE loss did not go down: {l}"
        print(f"AE ok: l1 {l[0]:.3f} -> {l[-1]:.3f}, held-out PSNR {psnr:.1f} dB ({time.time() - t0:.0f}s)")
        common = ["--data", ds, "--ae", f"{d}/ae/ae_final.pt", "--run", f"{d}/dit", "--dim", "64", "--heads", "1",
                  "--layers", "2", "--ffn", "128", "--freq-dim", "32", "--text-dim", "32", "--frames", "6",
                  "--batch", "4", "--lr", "2e-3", "--vocab", "40", "--minutes", "30"]
        train_dit.main(common + ["--stage", "df", "--max-steps", "60"])
        l = losses(f"{d}/dit/dit_log.jsonl", "loss")
        assert min(l[-2:]) < l[0], f"DiT loss did not go down: {l}"
        print(f"DiT df ok: loss {l[0]:.3f} -> {l[-1]:.3f} ({time.time() - t0:.0f}s)")
        train_dit.main(common + ["--stage", "sf", "--max-steps", "70"])
        train_dit.main(common + ["--stage", "sfd", "--max-steps", "80", "--budget", "3"])
        train_dit.main(common + ["--stage", "roll", "--max-steps", "90", "--chunk", "1", "--budget", "3",
                                 "--steps", "1000", "500", "--frames", "5", "--roll-stats-weight", "1",
                                 "--roll-swd-weight", "1", "--roll-temporal-weight", "1"])
        l = [json.loads(x) for x in open(f"{d}/dit/dit_log.jsonl")]
        for stage in ("sf", "sfd", "roll"):
            assert any(x.get("stage") == stage for x in l), f"no {stage} steps logged"
        print(f"DiT sf ok: resumed and ran to step {l[-1]['step']} ({time.time() - t0:.0f}s)")
        out = os.path.join(d, "world")
        world, size = export.export(f"{d}/ae/ae_final.pt", f"{d}/dit", out, "smoke", "# smoke\n")
        w = load_world(out)
        assert w["dit"].config["action_dim"] == 8
        ctx = text_context(w, "a snowy forest")
        prime = torch.randn(1, 3, 4, 16, 16)
        acts = torch.zeros(1, 9, 8)
        frames = generate(w["dit"], w["dit"].embed_context(ctx), prime, acts, 6, budget=6)
        img = w["dec"](frames[0] / world["latent_scale"])
        assert img.shape == (9, 3, 64, 64) and torch.isfinite(img).all()
        print(f"export ok: {size / 1e3:.0f} kB, package loads and rolls out ({time.time() - t0:.0f}s)")
        fresh = os.environ.get("WL_FRESH_WORLD_FIXTURE")
        if fresh:  # the C++ side checks this package against make_fixture's cases (WorldFixtureFresh)
            import shutil
            import subprocess
            shutil.rmtree(fresh, ignore_errors=True)
            shutil.copytree(out, os.path.join(fresh, "smoke"))
            subprocess.run([sys.executable, os.path.join(HERE, "make_fixture.py"), "--world",
                            os.path.join(fresh, "smoke"), "--out", fresh], check=True)
            print(f"fresh fixture written to {fresh} ({time.time() - t0:.0f}s)")

        # the decoder's fine-tune on the world's own rollouts: D reveals 4 new pixel columns a frame
        seen = rollout_latents.seen_pixels(torch.stack([right, right])[None], 64)[0, :, 0]  # [2, 64, 64]
        assert seen[0, :, :60].all() and not seen[0, :, 60:].any() and seen[1, :, :56].all()
        assert not seen[1, :, 56:].any()
        rollout_latents.main(["--world", out, "--data", ds, "--out", f"{d}/ro.pt", "--clips", "8", "--batch", "4",
                              "--frames", "3"])
        ro = torch.load(f"{d}/ro.pt")
        assert ro["latents"].shape == (8, 3, 4, 16, 16) and ro["frames"].shape == (8, 3, 3, 64, 64)
        train_ae.main(["--data", ds, "--run", f"{d}/aero", "--decoder-only", f"{d}/ae/ae_final.pt", "--rollouts",
                       f"{d}/ro.pt", "--max-steps", "25", "--ch", "16", "--batch", "8", "--lr", "3e-3",
                       "--minutes", "30"])
        l = [json.loads(x) for x in open(f"{d}/aero/ae_log.jsonl")]
        assert any("rollout" in x for x in l) and "heldout_rollout_seen_psnr" in l[-1]
        print(f"decoder on rollouts ok ({time.time() - t0:.0f}s)")

        # the DiT from the package, on its own stored rollouts (stage ro), exported with the
        # package's autoencoder as it is
        assert ro["actions"].shape == (8, 6, 8) and ro["oracle_latents"].shape == (8, 6, 4, 16, 16)
        train_dit.main(["--data", ds, "--init-world", out, "--run", f"{d}/ditro", "--stage", "ro", "--rollouts",
                        f"{d}/ro.pt", "--chunk", "1", "--frames", "6", "--batch", "4", "--max-steps", "10",
                        "--lr", "1e-3", "--minutes", "30"])
        l = [json.loads(x) for x in open(f"{d}/ditro/dit_log.jsonl")]
        assert l and l[-1]["stage"] == "ro" and l[-1]["step"] == 10
        out2 = os.path.join(d, "world_ro")
        export.export(None, f"{d}/ditro", out2, "smoke-ro", use_ema=False, ae_world=out)
        for f in ("encoder.safetensors", "decoder.safetensors", "tokenizer.model"):
            assert open(os.path.join(out, f), "rb").read() == open(os.path.join(out2, f), "rb").read(), f
        w2 = load_world(out2)
        moved = max((p - q).abs().max().item() for p, q in zip(w["dit"].parameters(), w2["dit"].parameters()))
        assert moved > 0, "stage ro did not change the package's DiT"
        print(f"DiT on stored rollouts ok ({time.time() - t0:.0f}s)")
    print(f"PASS in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
