# mypy: disable-error-code="no-untyped-call,misc,untyped-decorator"
"""ChineseBERT (ShannonAI, ACL 2021): BERT whose input embedding also sees each character's pinyin and glyph.

transformers has no ChineseBERT (``RoCBert`` is a different model); this is zhplm's own implementation,
written from the paper and ShannonAI's ``models/{fusion,pinyin,glyph}_embedding.py``. Only the embedding
differs from BERT, so the encoder, pooler and MLM head are transformers' own ``Bert*`` modules (SDPA and
the other attention back ends come with them). The fusion embedding of a token is::

    word   = word_embeddings[id]                                   [H]
    pinyin = max over 7 windows of Conv1d(k=2)(pinyin_embedding[8 pinyin letter ids])   [H]
    glyph  = glyph_map(glyph_table[id])        (glyph_table: 3 fonts × 24×24 bitmaps = 1728)
    e      = LayerNorm(map_fc([word ⊕ pinyin ⊕ glyph]) + position[i] + token_type[t])

Parameter names (those of the released ``pytorch_model.bin``), ``P = "bert."`` inside the MLM model::

    P embeddings.{word,position,token_type}_embeddings.weight
    P embeddings.pinyin_embeddings.embedding.weight      [pinyin_map_len (32), 128]
    P embeddings.pinyin_embeddings.conv.{weight [H, 128, 2], bias [H]}
    P embeddings.glyph_embeddings.embedding.weight       [vocab, glyph_embedding_dim (1728)]
    P embeddings.glyph_map.{weight [H, 1728], bias}      P embeddings.map_fc.{weight [H, 3H], bias}
    P embeddings.LayerNorm.{weight,bias}
    P encoder.layer.N.…   P pooler.dense.…               (BERT's)
    cls.predictions.{transform.dense, transform.LayerNorm, bias}; decoder tied to the word embedding

Inputs: ``pinyin_ids`` ``[B, L, 8]`` (or flat ``[B, L·8]`` as the original tokenizer returns it) next to
``input_ids``; :class:`zhplm.arch.chinesebert_tokenizer.ChineseBertTokenizer` produces both.
"""

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.bert.modeling_bert import (
    BertEncoder,
    BertOnlyMLMHead,
    BertPooler,
    BertPreTrainedModel,
)
from transformers.utils.output_capturing import capture_outputs

from zhplm.arch.modeling._encoder_heads import MaskedLMHeads, tied_decoder
from zhplm.arch.modeling._layers import (
    WordEmbeddingAccess,
    add_token_types,
    pooled_output,
)
from zhplm.arch.modeling.configuration_chinesebert import ChineseBertConfig

PINYIN_LOCS = 8  # pinyin letters (+ tone digit) per character, zero-padded


class PinyinEmbedding(nn.Module):
    """Embed each of a character's 8 pinyin slots, Conv1d (kernel 2) over the slots, max-pool to one vector.

    The convolution reads only embeddings of a small alphabet (``pinyin_map_len``, 32), so it factorises
    into per-letter tables: window ``t`` = ``A[id_t] + B[id_{t+1}] + bias`` with ``A = E·W₀ᵀ`` and
    ``B = E·W₁ᵀ`` (``W₀, W₁`` the two kernel taps). The same numbers as running the Conv1d on the
    embedded slots, at a fifth of its cost (the conv was ~7% of a base forward pass on CPU)."""

    def __init__(self, config: ChineseBertConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(config.pinyin_map_len, config.pinyin_embedding_size)
        self.conv = nn.Conv1d(config.pinyin_embedding_size, config.hidden_size, kernel_size=2)

    def forward(self, pinyin_ids: torch.Tensor) -> torch.Tensor:
        table = self.embedding.weight  # [letters, E]
        weight = self.conv.weight  # [H, E, 2]
        letters = table.shape[0]
        if pinyin_ids.numel() and (int(pinyin_ids.min()) < 0 or int(pinyin_ids.max()) >= letters):
            raise ValueError(
                f"pinyin_ids must lie in [0, {letters}) (pinyin_map_len), got values in "
                f"[{int(pinyin_ids.min())}, {int(pinyin_ids.max())}]"
            )
        first = table @ weight[:, :, 0].T  # [letters, H]: tap 0 of every letter
        bias = self.conv.bias
        assert bias is not None
        second = torch.addmm(bias, table, weight[:, :, 1].T)  # tap 1, plus the bias
        windows = F.embedding(pinyin_ids[..., :-1], first) + F.embedding(pinyin_ids[..., 1:], second)
        return windows.amax(dim=-2)  # [B, L, slots - 1, H] → [B, L, H]


class GlyphEmbedding(nn.Module):
    """The flattened glyph bitmaps of every vocabulary entry (a lookup table, trained further)."""

    def __init__(self, config: ChineseBertConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(config.vocab_size, config.glyph_embedding_dim)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.embedding(input_ids)
        return out


class FusionEmbeddings(nn.Module):
    def __init__(self, config: ChineseBertConfig) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, hidden, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, hidden)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, hidden)
        self.pinyin_embeddings = PinyinEmbedding(config)
        self.glyph_embeddings = GlyphEmbedding(config)
        self.glyph_map = nn.Linear(config.glyph_embedding_dim, hidden)
        self.map_fc = nn.Linear(3 * hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        input_ids: torch.Tensor,
        pinyin_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None,
        position_ids: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None,
    ) -> torch.Tensor:
        batch, length = input_ids.shape
        if pinyin_ids.dim() == 2:  # the original tokenizer's flat [B, L·8]
            pinyin_ids = pinyin_ids.reshape(batch, length, -1)
        if pinyin_ids.shape[:2] != (batch, length):
            raise ValueError(
                f"pinyin_ids must have shape (batch, seq_len, {PINYIN_LOCS}) = {(batch, length, PINYIN_LOCS)}, "
                f"got {tuple(pinyin_ids.shape)}"
            )
        word = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        pinyin = self.pinyin_embeddings(pinyin_ids)
        glyph = self.glyph_map(self.glyph_embeddings(input_ids))
        fused = self.map_fc(torch.cat((word, pinyin, glyph), dim=-1))
        if position_ids is None:
            position_ids = torch.arange(length, device=input_ids.device)[None, :]
        fused = fused + self.position_embeddings(position_ids)
        fused = add_token_types(fused, self.token_type_embeddings, token_type_ids)
        out: torch.Tensor = self.dropout(self.LayerNorm(fused))
        return out


class ChineseBertPreTrainedModel(BertPreTrainedModel):
    config_class = ChineseBertConfig
    config: ChineseBertConfig
    base_model_prefix = "bert"


class ChineseBertModel(WordEmbeddingAccess, ChineseBertPreTrainedModel):
    """Fusion embedding + BERT encoder (+ pooler): ``last_hidden_state``, ``pooler_output``."""

    _no_split_modules = ["FusionEmbeddings", "BertLayer"]  # noqa: RUF012 (transformers declares it so)

    def __init__(self, config: ChineseBertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = FusionEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    @capture_outputs
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        pinyin_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: object,
    ) -> BaseModelOutputWithPooling:
        if input_ids is None:
            raise ValueError("ChineseBERT needs input_ids: its glyph embedding is looked up by token id")
        if pinyin_ids is None:
            raise ValueError(
                "ChineseBERT needs pinyin_ids next to input_ids (8 per token); its tokenizer "
                "(zhplm's ChineseBertTokenizer) returns both"
            )
        from transformers.masking_utils import create_bidirectional_mask

        hidden = self.embeddings(input_ids, pinyin_ids, token_type_ids, position_ids, inputs_embeds)
        mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=hidden, attention_mask=attention_mask
        )
        encoded = self.encoder(hidden, attention_mask=mask, **kwargs)
        last = encoded.last_hidden_state
        return pooled_output(last, self.pooler)


class ChineseBertForMaskedLM(MaskedLMHeads, ChineseBertPreTrainedModel):
    """ChineseBERT with BERT's MLM head (transform + tied decoder + bias): ``logits [B, L, vocab]``.

    Like the original ``GlyceBertForMaskedLM``, the base model keeps its pooler (the released checkpoints
    carry it; MLM logits do not use it)."""

    _tied_weights_keys = tied_decoder("bert")
    model_class = ChineseBertModel
    head_class = BertOnlyMLMHead
    drop_pooler = False


__all__ = [
    "ChineseBertConfig",
    "ChineseBertForMaskedLM",
    "ChineseBertModel",
    "ChineseBertPreTrainedModel",
]
