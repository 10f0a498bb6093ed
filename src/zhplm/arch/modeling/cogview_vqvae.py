# mypy: disable-error-code="no-untyped-call,misc"
"""CogView's VQ-VAE: RGB images (``[B, 3, 256, 256]``) ↔ codes (``[B, 32, 32]``, 8192 of them).

CogView writes an image as 1024 tokens; its VQ-VAE (``vqvae/vqvae_zc.py`` of ``THUDM/CogView``,
``api.new_model()``: 512 channels, 256-wide codes, stride 6, ``simple``, no residual blocks) is::

    encode (api.img2code): x = Conv4×4/2 ReLU Conv4×4/2 ReLU Conv4×4/2 [ResBlock…] ReLU Conv1×1 (normalised image)
                           code = argmin_k ‖x − codebook[:, k]‖²  (the original's distance expression, same order)
    decode (api.code2img): z = codebook[:, code]     (``quantize_t.embed`` is ``[embed_dim, n_embed]``)
                           x = ConvT4×4/2(z) [ResBlock…] ReLU ConvT4×4/2 ReLU ConvT4×4/2 ReLU Conv1×1 → 3 channels
                           image = x · std + mean

It reads the release's ``vqvae_hard_biggerset_011.pt`` names (``enc_b.blocks.N.*``, ``quantize_t.embed``,
``dec.blocks.N.*``, with or without ``module.``) and finds every size in the shapes. Folders converted before the
encoder was kept hold the decoder half only: they decode, and encoding says to convert again.
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


class _Blocks(nn.Module):
    """``enc_b`` / ``dec``: a ``blocks`` sequence, as the original names them."""

    def __init__(self, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*blocks)


class CogViewVQVAE(nn.Module):
    """CogView's VQ-VAE (``simple=True``, stride 6: three ×2 steps, 256 pixels ↔ 32 codes a side).

    ``encoder=False`` builds the decoder half only (what folders converted before the encoder was kept hold)."""

    def __init__(
        self,
        embed_dim: int = 256,
        n_embed: int = 8192,
        channel: int = 512,
        n_res_block: int = 0,
        n_res_channel: int = 32,
        *,
        encoder: bool = True,
    ) -> None:
        super().__init__()
        self.enc_b: _Blocks | None = None
        if encoder:
            enc: list[nn.Module] = [
                nn.Conv2d(3, channel, 4, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(channel, channel, 4, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(channel, channel, 4, stride=2, padding=1),
            ]
            enc += [_ResBlock(channel, n_res_channel) for _ in range(n_res_block)]
            enc += [nn.ReLU(), nn.Conv2d(channel, embed_dim, 1)]
            self.enc_b = _Blocks(enc)
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
        self.dec = _Blocks(blocks)
        self.n_embed = n_embed

    @property
    def has_encoder(self) -> bool:
        return self.enc_b is not None

    @classmethod
    def from_state_dict(
        cls, state: Mapping[str, torch.Tensor], *, encoder: bool | None = None
    ) -> CogViewVQVAE:
        """Build from the original checkpoint's state dict (or a converted ``vqvae.safetensors``).

        ``encoder=None`` keeps the encoder when its weights are there; ``True`` requires them."""
        sd = {k.removeprefix("module."): v for k, v in state.items()}
        if "quantize_t.embed" not in sd or "dec.blocks.0.weight" not in sd:
            raise ConversionError(
                "not a CogView VQ-VAE checkpoint (no quantize_t.embed / dec.blocks.0.weight): give the "
                "authors' vqvae_hard_biggerset_011.pt"
            )
        has_encoder = "enc_b.blocks.0.weight" in sd
        if encoder and not has_encoder:
            raise ConversionError(
                "this VQ-VAE holds the decoder half only (a folder converted by an older zhplm): turning images "
                "into codes needs the encoder: convert the model again with vqvae_hard_biggerset_011.pt beside it"
            )
        keep = has_encoder if encoder is None else encoder
        embed_dim, n_embed = sd["quantize_t.embed"].shape
        channel = int(sd["dec.blocks.0.weight"].shape[1])
        res = sorted(
            {int(m.group(1)) for k in sd if (m := re.fullmatch(r"dec\.blocks\.(\d+)\.conv\.1\.weight", k))}
        )
        res_channel = int(sd[f"dec.blocks.{res[0]}.conv.1.weight"].shape[0]) if res else 32
        model = cls(int(embed_dim), int(n_embed), channel, len(res), res_channel, encoder=keep)
        wanted = model.state_dict()
        picked = {k: sd[k] for k in wanted if k in sd}
        missing = sorted(set(wanted) - set(picked))
        if missing:
            raise ConversionError(f"the VQ-VAE checkpoint lacks {missing[:5]}: is it a CogView VQ-VAE?")
        bad = [k for k in wanted if tuple(picked[k].shape) != tuple(wanted[k].shape)]
        if bad:
            raise ConversionError(
                f"the VQ-VAE checkpoint has unexpected shapes for {bad[:5]} (zhplm reads the release's "
                "stride-6 'simple' VQ-VAE, api.new_model())"
            )
        model.load_state_dict({k: v.float() for k, v in picked.items()})
        return model.eval()

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalised images ``[B, 3, H, W]`` → codes ``[B, H/8, W/8]`` (``api.img2code``, as a grid)."""
        if self.enc_b is None:
            raise ConversionError(
                "this VQ-VAE was loaded without its encoder (a folder converted by an older zhplm): convert the "
                "model again with vqvae_hard_biggerset_011.pt beside it"
            )
        if pixels.dim() != 4 or pixels.shape[1] != 3:
            raise ValueError(f"give images as [B, 3, H, W], got {list(pixels.shape)}")
        x = self.enc_b.blocks(pixels).permute(0, 2, 3, 1)
        flat = x.reshape(-1, x.shape[-1])
        embed = self.quantize_t.embed
        # vqvae_zc.Quantize.forward_'s distance, term by term, so that near-ties fall the same way
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ embed + embed.pow(2).sum(0, keepdim=True)
        index: torch.Tensor = (-dist).max(1).indices
        return index.view(*x.shape[:-1])

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
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

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Decoding (what text-to-image calls)."""
        return self.decode(codes)


__all__ = ["MEAN", "STD", "CogViewVQVAE"]
