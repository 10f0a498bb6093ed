# mypy: disable-error-code="no-untyped-call,misc"
"""CogView's image decoder: VQ-VAE codes (``[B, 32, 32]``, 8192 of them) → RGB images (``[B, 3, 256, 256]``).

CogView writes an image as 1024 tokens; its VQ-VAE (``vqvae/vqvae_zc.py`` of ``THUDM/CogView``,
``api.new_model()``: 512 channels, 256-wide codes, stride 6, no residual blocks) turns them into pixels::

    z = codebook[:, code]                            (``quantize_t.embed`` is ``[embed_dim, n_embed]``)
    x = ConvT4×4/2(z) [ResBlock…] ReLU ConvT4×4/2 ReLU ConvT4×4/2 ReLU Conv1×1 → 3 channels
    image = x · std + mean                           (``api.code2img``'s de-normalisation)

Only the decoder half is here (the encoder turns images into codes, which generation does not need). It reads
the release's ``vqvae_hard_biggerset_011.pt`` names (``quantize_t.embed``, ``dec.blocks.N.*``, with or without
``module.``) and finds every size in the shapes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

from zhplm.errors import ConversionError

MEAN = (0.79093, 0.76271, 0.75340)  # vqvae/api.py code2img
STD = (0.30379, 0.32279, 0.32800)


class _ResBlock(nn.Module):
    """``ReLU, Conv3×3, ReLU, Conv1×1`` plus the *rectified* input: the original's first ReLU is in place, so
    its ``out += input`` adds ``relu(input)`` (names ``conv.1``/``conv.3`` as there)."""

    def __init__(self, channel: int, res_channel: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channel, res_channel, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(res_channel, channel, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        out: torch.Tensor = self.conv(x) + x
        return out


class _Quantize(nn.Module):
    embed: torch.Tensor

    def __init__(self, embed_dim: int, n_embed: int) -> None:
        super().__init__()
        self.register_buffer("embed", torch.zeros(embed_dim, n_embed))


class _Decoder(nn.Module):
    def __init__(self, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*blocks)


class CogViewVQVAEDecoder(nn.Module):
    """The decoder of CogView's VQ-VAE (``simple=True``, stride 6: three ×2 up-samplings, 32 → 256 pixels)."""

    def __init__(
        self,
        embed_dim: int = 256,
        n_embed: int = 8192,
        channel: int = 512,
        n_res_block: int = 0,
        n_res_channel: int = 32,
    ) -> None:
        super().__init__()
        self.quantize_t = _Quantize(embed_dim, n_embed)
        blocks: list[nn.Module] = [nn.ConvTranspose2d(embed_dim, channel, 4, stride=2, padding=1)]
        blocks += [_ResBlock(channel, n_res_channel) for _ in range(n_res_block)]
        blocks += [
            nn.ReLU(),
            nn.ConvTranspose2d(channel, channel, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(channel, channel, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(channel, 3, 1),
        ]
        self.dec = _Decoder(blocks)
        self.n_embed = n_embed

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> CogViewVQVAEDecoder:
        """Build from the original checkpoint's state dict (its encoder weights are skipped)."""
        sd = {k.removeprefix("module."): v for k, v in state.items()}
        if "quantize_t.embed" not in sd or "dec.blocks.0.weight" not in sd:
            raise ConversionError(
                "not a CogView VQ-VAE checkpoint (no quantize_t.embed / dec.blocks.0.weight): give the "
                "authors' vqvae_hard_biggerset_011.pt"
            )
        embed_dim, n_embed = sd["quantize_t.embed"].shape
        channel = int(sd["dec.blocks.0.weight"].shape[1])
        res = sorted(
            {int(m.group(1)) for k in sd if (m := re.fullmatch(r"dec\.blocks\.(\d+)\.conv\.1\.weight", k))}
        )
        res_channel = int(sd[f"dec.blocks.{res[0]}.conv.1.weight"].shape[0]) if res else 32
        model = cls(int(embed_dim), int(n_embed), channel, len(res), res_channel)
        wanted = model.state_dict()
        picked = {k: sd[k] for k in wanted if k in sd}
        missing = sorted(set(wanted) - set(picked))
        if missing:
            raise ConversionError(f"the VQ-VAE checkpoint lacks {missing[:5]}: is it a CogView VQ-VAE?")
        bad = [k for k in wanted if tuple(picked[k].shape) != tuple(wanted[k].shape)]
        if bad:
            raise ConversionError(f"the VQ-VAE checkpoint has unexpected shapes for {bad[:5]}")
        model.load_state_dict({k: v.float() for k, v in picked.items()})
        return model.eval()

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes`` ``[B, h, w]`` or ``[B, h·w]`` (square) → images ``[B, 3, 8h, 8w]``, de-normalised (about 0–1)."""
        if codes.dim() == 2:
            side = math.isqrt(codes.shape[1])
            if side * side != codes.shape[1]:
                raise ValueError(f"{codes.shape[1]} codes per image is not a square grid: give [B, h, w]")
            codes = codes.view(codes.shape[0], side, side)
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.n_embed):
            raise ValueError(f"image codes must lie in 0…{self.n_embed - 1}: subtract the text offset first")
        z = F.embedding(codes, self.quantize_t.embed.t()).permute(0, 3, 1, 2)
        x: torch.Tensor = self.dec.blocks(z)
        mean = torch.tensor(MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return x * std + mean


__all__ = ["CogViewVQVAEDecoder"]
