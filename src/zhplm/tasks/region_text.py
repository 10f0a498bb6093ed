"""Text + image-region features (Oscar / Mengzi-oscar): ``feats(text, regions) -> RegionTextOutput``.

Oscar reads an image as the regions an object detector found (VinVL's X152-C4 for Mengzi-oscar: per
region a 2048-d appearance feature and 6 box numbers, 2054 in all). The detector is a separate project
(microsoft/scene_graph_benchmark, a GPU build of maskrcnn-benchmark) that zhplm does not run, so this task
takes the features precomputed: ``regions`` is an ``[N, img_feature_dim]`` array. The output is the
encoder's states of the text tokens then the regions, and the pooled ([CLS]) vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zhplm.errors import ConversionError

Array = np.ndarray[Any, np.dtype[np.float32]]


@dataclass
class RegionTextOutput:
    states: Array  # [text_tokens + regions, hidden]
    pooled: Array  # [hidden]
    text_tokens: int
    regions: int


class RegionTextFeatures:
    """A loaded Oscar model with its tokenizer; ``max_length`` caps the text tokens (Oscar trained on 35)."""

    def __init__(self, model: Any, tokenizer: Any, *, max_length: int = 128) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def from_model(
        cls, model: str | Path, *, max_length: int = 128, **load_options: Any
    ) -> RegionTextFeatures:
        from zhplm.loader import load

        loaded = load(model, **load_options)
        if getattr(loaded.model.config, "model_type", None) != "oscar":
            raise ConversionError(
                f"{model} is a {loaded.model.config.model_type} model: text + region features need an Oscar "
                "model (Mengzi-oscar)"
            )
        return cls(loaded.model, loaded.tokenizer, max_length=max_length)

    def __call__(self, text: str, regions: Any) -> RegionTextOutput:
        import torch

        dim = int(self.model.config.img_feature_dim)
        feats = np.asarray(regions, dtype=np.float32)
        if feats.ndim != 2 or feats.shape[1] != dim:
            raise ConversionError(
                f"region features must be an [N, {dim}] array (the detector's feature + box per region), "
                f"got shape {feats.shape}"
            )
        if not np.isfinite(feats).all():
            raise ConversionError("the region features contain NaN or infinite values")
        enc = self.tokenizer([text], truncation=True, max_length=self.max_length, return_tensors="pt")
        ids = enc["input_ids"]
        with torch.inference_mode():
            out = self.model(
                ids,
                img_feats=torch.from_numpy(feats)[None].to(self.model.dtype),
                token_type_ids=enc.get("token_type_ids"),
            )
        return RegionTextOutput(
            out.last_hidden_state[0].float().numpy(),
            out.pooler_output[0].float().numpy(),
            int(ids.shape[1]),
            int(feats.shape[0]),
        )
