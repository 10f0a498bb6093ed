"""Tasks on loaded models, chosen from what their heads really are (no silently random heads).

``zhplm.pipeline("fill-mask", model=ID_OR_DIR)``, ``zhplm.pipeline("embeddings", model=...)``,
``zhplm.pipeline("text-generation", model=...)``, ``zhplm.pipeline("chat", model=...)``,
``zhplm.pipeline("zero-shot-image-classification", model=...)``, ``zhplm.pipeline("image-text-similarity", ...)``
and ``zhplm.pipeline("image-text-features", ...)`` (text + detector region features, Oscar). BriVL's image
side reads detector boxes: its image inputs are :class:`zhplm.tasks.region_image.BoxedImage` (image + boxes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zhplm.errors import ConversionError

TASKS = (
    "fill-mask",
    "embeddings",
    "sentence-similarity",
    "paraphrase",
    "text-generation",
    "text2text-generation",
    "chat",
    "zero-shot-image-classification",
    "image-text-similarity",
    "image-text-features",
    "text-to-image",
    "image-to-text",
)


def pipeline(task: str, model: str | Path, **options: Any) -> Any:
    """Build a task callable over a converted model (a folder or a catalog id in the store)."""
    if task == "fill-mask":
        from zhplm.tasks.fill_mask import FillMask

        return FillMask.from_model(model, **options)
    if task == "embeddings":
        from zhplm.tasks.embed import Embeddings

        return Embeddings.from_model(model, **options)
    if task == "sentence-similarity":
        from zhplm.tasks.similarity import SentenceSimilarity

        return SentenceSimilarity.from_model(model, **options)
    if task == "paraphrase":  # SimBERT / RoFormer-sim: sampled through the UniLM mask, ranked by cosine
        from zhplm.tasks.paraphrase import Paraphraser

        return Paraphraser.from_model(model, **options)
    if task in ("text-generation", "text2text-generation"):  # one API: the folder says which kind of model
        from zhplm.tasks.generate import TextGeneration

        return TextGeneration.from_model(model, **options)
    if task == "chat":
        from zhplm.tasks.chat import Chat

        return Chat.from_model(model, **options)
    if task == "zero-shot-image-classification":
        from zhplm.tasks.image_text import ZeroShotImageClassification

        return ZeroShotImageClassification.from_model(model, **options)
    if task == "image-text-similarity":
        from zhplm.tasks.image_text import ImageTextSimilarity

        return ImageTextSimilarity.from_model(model, **options)
    if task == "image-text-features":
        from zhplm.tasks.region_text import RegionTextFeatures

        return RegionTextFeatures.from_model(model, **options)
    if task == "text-to-image":  # CogView: image codes sampled by generate, decoded by its VQ-VAE
        from zhplm.tasks.text_to_image import TextToImage

        return TextToImage.from_model(model, **options)
    if (
        task == "image-to-text"
    ):  # CogView: captions sampled by generate; .post_selection ranks images for a text
        from zhplm.tasks.image_to_text import ImageToText

        return ImageToText.from_model(model, **options)
    raise ConversionError(f"unknown task {task!r}; known: {', '.join(TASKS)}")


__all__ = ["TASKS", "pipeline"]
