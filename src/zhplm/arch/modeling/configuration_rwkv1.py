# mypy: disable-error-code="no-untyped-call,misc"
"""The RWKV-1 (AI-Writer) configuration, apart from the model code: ``AutoConfig`` knows the ``rwkv1`` model
type without importing torch or the model classes."""

from __future__ import annotations

from transformers import PreTrainedConfig


class Rwkv1Config(PreTrainedConfig):
    """Hyper-parameters of an RWKV-1 model (the ``GPTConfig`` of BlinkDL's RWKV-v1 / AI-Writer ``run.py``).

    The defaults are AI-Writer's released ``wangwen-2022-02-15`` model: 12 layers, 12 heads, 768 wide, a
    512-character window. ``context_length`` is the window the time weights were trained for (``ctx_len``):
    the mixing weights depend on the absolute position inside it, so a longer text is read, as the authors'
    ``run.py`` reads it, through its last ``context_length`` characters. ``intermediate_size`` is the channel
    mix's ``5 * n_ffn // 2``; ``copy_size`` the width of the copy head (``head_q``/``head_k``, 256)."""

    model_type = "rwkv1"

    vocab_size: int = 8849
    context_length: int = 512
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    attention_hidden_size: int = 768
    intermediate_size: int = 1920
    copy_size: int | None = 256  # None: a release without the copy head (AI-Writer before 2022-02-15)
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02
    use_cache: bool = True
    tie_word_embeddings: bool = False
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | None = None
