# mypy: disable-error-code="no-untyped-call,misc,no-any-return,override"
"""CPT (fnlp, "a Pre-Trained Unbalanced Transformer") for transformers 5, built from transformers' own BERT and
BART blocks; weight names are the original ``modeling_cpt.py``'s, so conversion is a checked rename.

* The encoder is a ``BertModel`` without pooler (``model.encoder.*``) of S-Enc + U-Dec layers. In ``forward`` it
  always encodes with segment id 1 (``token_type_ids = ones``), exactly as the original.
* The generation decoder (G-Dec) is a BART decoder (``model.decoder.*``: learned positions offset by 2,
  ``layernorm_embedding``, post-LN layers) that cross-attends to the S-Enc output: encoder hidden state
  ``-decoder_layers - 1``, not the last one. Its token embedding and the LM head are tied to BERT's.
* The understanding head (:class:`CPTForMaskedLM`) is the same weights read at the U-Dec output (BERT's last
  layer) through the tied head; its ``logits`` are those, ``decoder_logits`` the G-Dec's.
* ``generate`` encodes through :meth:`CPTModel.get_encoder`, which, like the original's ``get_encoder``
  wrapper, passes ``token_type_ids`` as given (none: BERT's default segment 0) — the original generates from a
  segment-0 encoding although its forward pass uses segment 1; matching it keeps greedy output identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from transformers import BertConfig, BertModel, GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput, Seq2SeqModelOutput
from transformers.models.bart.modeling_bart import BartDecoder, shift_tokens_right
from transformers.utils.generic import ModelOutput

from zhplm.arch.modeling._layers import token_loss
from zhplm.arch.modeling.configuration_cpt import CPTConfig


@dataclass
class CPTEncoderOutput(BaseModelOutput):
    """BERT's outputs plus the S-Enc output the generation decoder attends to (a tensor, so that
    ``generate`` expands it with the rest when it repeats the batch)."""

    shared_encoder_state: torch.Tensor | None = None


@dataclass
class CPTMaskedLMOutput(ModelOutput):
    """Understanding-head logits (U-Dec output through the tied head) and the G-Dec's logits."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    decoder_logits: torch.Tensor | None = None
    encoder_last_hidden_state: torch.Tensor | None = None
    encoder_hidden_states: tuple[torch.Tensor, ...] | None = None
    decoder_hidden_states: tuple[torch.Tensor, ...] | None = None


def bert_config(config: CPTConfig) -> BertConfig:
    """The encoder's ``BertConfig``, built from the CPT (BART-key) config as the original builds it."""
    return BertConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.d_model,
        num_hidden_layers=config.encoder_layers,
        num_attention_heads=config.encoder_attention_heads,
        intermediate_size=config.encoder_ffn_dim,
        hidden_act=config.encoder_hidden_act,
        hidden_dropout_prob=config.activation_dropout,
        attention_probs_dropout_prob=config.attention_dropout,
        max_position_embeddings=config.max_position_embeddings,
        type_vocab_size=config.type_vocab_size,
        layer_norm_eps=config.encoder_layer_norm_eps,
        initializer_range=config.init_std,
        pad_token_id=config.pad_token_id,
    )


def shift_right(ids: torch.Tensor, config: CPTConfig) -> torch.Tensor:
    """Decoder inputs from ``ids``: the start token, then ``ids`` shifted one to the right (as BART/CPT)."""
    if config.pad_token_id is None or config.decoder_start_token_id is None:
        raise ValueError("CPT needs pad_token_id and decoder_start_token_id in its config to shift ids right")
    return shift_tokens_right(ids, config.pad_token_id, config.decoder_start_token_id)


class CPTPreTrainedModel(PreTrainedModel):
    config: CPTConfig
    config_class = CPTConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _keys_to_ignore_on_load_unexpected: ClassVar[list[str]] = [
        r"encoder\.version",
        r"decoder\.version",
        r"model\.shared\.weight",
    ]
    _no_split_modules: ClassVar[list[str]] = ["BertLayer", "BartDecoderLayer"]
    _supports_sdpa = True

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        bias = getattr(module, "final_logits_bias", None)
        if isinstance(bias, torch.Tensor):
            with torch.no_grad():
                bias.zero_()


class CPTEncoder(nn.Module):
    """What ``generate`` runs once: BERT with every hidden state, and the S-Enc output picked out.

    Not a registered sub-module (it owns nothing): :meth:`CPTModel.get_encoder` wraps ``model.encoder``."""

    def __init__(self, bert: BertModel, decoder_layers: int) -> None:
        super().__init__()
        self.bert = bert
        self.decoder_layers = decoder_layers

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> CPTEncoderOutput:
        out = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=bool(output_attentions),
            output_hidden_states=True,
            return_dict=True,
        )
        return CPTEncoderOutput(
            last_hidden_state=out.last_hidden_state,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
            shared_encoder_state=out.hidden_states[-self.decoder_layers - 1],
        )


class CPTModel(CPTPreTrainedModel):
    """BERT encoder (S-Enc + U-Dec) and BART generation decoder over the S-Enc output."""

    _tied_weights_keys: ClassVar[dict[str, str]] = {
        "decoder.embed_tokens.weight": "encoder.embeddings.word_embeddings.weight"
    }

    def __init__(self, config: CPTConfig) -> None:
        super().__init__(config)
        if not 0 < config.decoder_layers < config.encoder_layers:
            raise ValueError(
                f"CPT needs fewer G-Dec layers ({config.decoder_layers}) than encoder layers "
                f"({config.encoder_layers}): the G-Dec attends to encoder hidden state -decoder_layers-1"
            )
        self.encoder = BertModel(bert_config(config), add_pooling_layer=False)
        self.decoder = BartDecoder(config)
        self.post_init()

    @property
    def shared(self) -> nn.Embedding:
        return self.encoder.embeddings.word_embeddings

    def get_input_embeddings(self) -> nn.Embedding:
        return self.encoder.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.encoder.embeddings.word_embeddings = value
        self.decoder.embed_tokens.weight = value.weight

    def get_encoder(self, modality: str | None = None) -> CPTEncoder:
        return CPTEncoder(self.encoder, self.config.decoder_layers)

    def get_decoder(self) -> BartDecoder:
        return self.decoder

    def encode(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None,
    ) -> CPTEncoderOutput:
        """The forward pass's encoding: segment id 1 everywhere, as the original."""
        given = input_ids if input_ids is not None else inputs_embeds
        if given is None:
            raise ValueError("pass input_ids or inputs_embeds")
        shape = given.shape if input_ids is not None else given.shape[:-1]
        device = given.device
        segments = torch.ones(shape, dtype=torch.long, device=device)
        return self.get_encoder()(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=segments,
            inputs_embeds=inputs_embeds,
        )

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: Any = None,
        cache: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        token_type_ids: torch.Tensor | None = None,  # accepted, unused: CPT encodes with segment 1
        **kwargs: Any,
    ) -> Seq2SeqModelOutput:
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            if input_ids is None:
                raise ValueError("pass decoder_input_ids (or input_ids, shifted right to make them)")
            decoder_input_ids = shift_right(input_ids, self.config)
        if encoder_outputs is None:
            encoder_outputs = self.encode(input_ids, attention_mask, inputs_embeds)
        elif isinstance(encoder_outputs, torch.Tensor):  # the S-Enc output itself, as the original accepts
            encoder_outputs = CPTEncoderOutput(shared_encoder_state=encoder_outputs)
        elif not isinstance(encoder_outputs, ModelOutput):
            encoder_outputs = CPTEncoderOutput(
                last_hidden_state=encoder_outputs[0],
                hidden_states=encoder_outputs[1] if len(encoder_outputs) > 1 else None,
            )
        memory = getattr(encoder_outputs, "shared_encoder_state", None)
        if memory is None:
            memory = encoder_outputs.hidden_states[-self.config.decoder_layers - 1]
        decoder_outputs = self.decoder(
            input_ids=decoder_input_ids,
            attention_mask=decoder_attention_mask,
            encoder_hidden_states=memory,
            encoder_attention_mask=attention_mask,
            cache=cache,
            inputs_embeds=decoder_inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        return Seq2SeqModelOutput(
            last_hidden_state=decoder_outputs.last_hidden_state,
            cache=decoder_outputs.cache,
            decoder_hidden_states=decoder_outputs.hidden_states,
            decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states,
            encoder_attentions=encoder_outputs.attentions,
        )


class _CPTWithHead(CPTPreTrainedModel):
    """The model plus the tied LM head and its (never trained, zero) ``final_logits_bias``."""

    _tied_weights_keys: ClassVar[dict[str, str]] = {
        "lm_head.weight": "model.encoder.embeddings.word_embeddings.weight"
    }
    _keys_to_ignore_on_load_missing: ClassVar[list[str]] = [r"final_logits_bias"]

    def __init__(self, config: CPTConfig) -> None:
        super().__init__(config)
        self.model = CPTModel(config)
        self.final_logits_bias = nn.Buffer(torch.zeros((1, config.vocab_size)))
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    def get_encoder(self, modality: str | None = None) -> CPTEncoder:
        return self.model.get_encoder()

    def get_decoder(self) -> BartDecoder:
        return self.model.get_decoder()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm_head(hidden) + self.final_logits_bias.to(hidden.device)


class CPTForConditionalGeneration(_CPTWithHead, GenerationMixin):
    """CPT with its generation head (G-Dec → tied LM head): summarisation, ``generate``."""

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: Any = None,
        cache: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        use_cache: bool | None = None,
        token_type_ids: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Seq2SeqLMOutput:
        if labels is not None:
            use_cache = False
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        out = self.model(
            input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            encoder_outputs=encoder_outputs,
            cache=cache,
            inputs_embeds=inputs_embeds,
            decoder_inputs_embeds=decoder_inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        logits = self.head(out.last_hidden_state)
        loss = None if labels is None else token_loss(logits, labels.to(logits.device))
        return Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            cache=out.cache,
            decoder_hidden_states=out.decoder_hidden_states,
            decoder_attentions=out.decoder_attentions,
            cross_attentions=out.cross_attentions,
            encoder_last_hidden_state=out.encoder_last_hidden_state,
            encoder_hidden_states=out.encoder_hidden_states,
            encoder_attentions=out.encoder_attentions,
        )

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return shift_right(labels, self.config)


class CPTForMaskedLM(_CPTWithHead):
    """CPT with its understanding head: the U-Dec output (BERT's last layer) through the tied LM head, as the
    original ``CPTForMaskedLM``; it also runs the G-Dec on ``input_ids`` shifted right (``decoder_logits``)."""

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> CPTMaskedLMOutput:
        out = self.model(
            input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            encoder_outputs=encoder_outputs,
            inputs_embeds=inputs_embeds,
            decoder_inputs_embeds=decoder_inputs_embeds,
            use_cache=False,
            **kwargs,
        )
        logits = self.head(out.encoder_last_hidden_state)
        loss = None if labels is None else token_loss(logits, labels.to(logits.device))
        return CPTMaskedLMOutput(
            loss=loss,
            logits=logits,
            decoder_logits=self.head(out.last_hidden_state),
            encoder_last_hidden_state=out.encoder_last_hidden_state,
            encoder_hidden_states=out.encoder_hidden_states,
            decoder_hidden_states=out.decoder_hidden_states,
        )


__all__ = [
    "CPTConfig",
    "CPTEncoder",
    "CPTForConditionalGeneration",
    "CPTForMaskedLM",
    "CPTModel",
    "CPTPreTrainedModel",
]
