"""Image autoencoder of WORLD_FORMAT.md: 64x64x3 in [-1,1] <-> 16x16xC latent (S = 2)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class EncBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, 1, 1)
        self.down = nn.Conv2d(ch, ch, 3, 2, 1)


class Encoder(nn.Module):
    def __init__(self, ch=64, latent=4, S=2):
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch, 3, 1, 1)
        self.blocks = nn.ModuleList([EncBlock(ch) for _ in range(S)])
        self.conv_out = nn.Conv2d(ch, latent, 3, 1, 1)

    def forward(self, rgb):
        x = F.silu(self.conv_in(rgb))
        for b in self.blocks:
            x = F.silu(b.conv1(x))
            x = F.silu(b.down(x))
        return self.conv_out(x)


class DecBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(ch, ch, 3, 1, 1)


class Decoder(nn.Module):
    def __init__(self, ch=64, latent=4, S=2):
        super().__init__()
        self.conv_in = nn.Conv2d(latent, ch, 3, 1, 1)
        self.blocks = nn.ModuleList([DecBlock(ch) for _ in range(S)])
        self.conv_out = nn.Conv2d(ch, 3, 3, 1, 1)

    def forward(self, z):
        x = F.silu(self.conv_in(z))
        for b in self.blocks:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = F.silu(b.conv1(x))
            x = F.silu(b.conv2(x))
        return self.conv_out(x)


def to_pixels(rgb):
    """decoder output in [-1,1] -> [0,1] exactly as the runtime: clamp((x+1)*127.5, 0, 255) rounded / 255."""
    return ((rgb.float() + 1) * 127.5).clamp(0, 255).round() / 255
