"""The head models over zhplm's own encoders (NEZHA, ZEN, Lattice-BERT, ChineseBERT, RoFormerV2, GAU-α, Oscar).

A family's head classes differ in three things only: the base model they wrap (under the family's
``base_model_prefix``), the head module (``cls``) that reads its output, and the output the logits make.
The rest (building both, the tied decoder, taking the base model's inputs plus the labels, calling the base
model) is written here once, in the manner of transformers' ``GenericFor*`` mixins (``modeling_layers``).

A head model's ``forward`` takes exactly its base model's inputs (same names, same order) and then its
label arguments. That signature is made from the base model's ``forward`` when the class is created, so
``inspect.signature`` (Trainer's column filter, pipelines) sees the real inputs, and a family's inputs are
spelled once, on its base model.
"""

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn
from transformers.modeling_outputs import MaskedLMOutput
from transformers.models.bert.modeling_bert import BertForPreTrainingOutput
from transformers.utils.generic import can_return_tuple

from zhplm.arch.modeling._layers import DecoderAccess, masked_lm_output, pretraining_output


def tied_decoder(prefix: str, *, bias: bool = True) -> dict[str, str]:
    """``_tied_weights_keys`` of an MLM decoder that is the word embedding (of the base model under ``prefix``)
    transposed; with ``bias`` the decoder's bias is the head's ``cls.predictions.bias`` (BERT's head)."""
    tied = {"cls.predictions.decoder.weight": f"{prefix}.embeddings.word_embeddings.weight"}
    if bias:
        tied["cls.predictions.decoder.bias"] = "cls.predictions.bias"
    return tied


class EncoderWithHeads:
    """A base model (``model_class``, set as ``base_model_prefix``) and heads over it.

    Put it before the family's ``PreTrainedModel`` in the bases. ``add_heads`` builds the head modules
    (default: ``self.cls = head_class(config)``); ``heads`` turns the base model's output and the labels
    (``label_names``) into the model's output. ``drop_pooler`` builds the base model with
    ``add_pooling_layer=False``. ``tuple_outputs`` wraps ``forward`` in transformers' ``can_return_tuple``.
    """

    model_class: ClassVar[type[nn.Module]]
    head_class: ClassVar[type[nn.Module]]
    drop_pooler: ClassVar[bool] = False
    label_names: ClassVar[tuple[str, ...]] = ("labels",)
    tuple_outputs: ClassVar[bool] = True
    base_model_prefix: str
    cls: Any

    if TYPE_CHECKING:

        def post_init(self) -> None: ...

    def __init__(self, config: Any) -> None:
        super().__init__(config)  # type: ignore[call-arg]  # the family's PreTrainedModel
        kwargs = {"add_pooling_layer": False} if self.drop_pooler else {}
        setattr(self, self.base_model_prefix, type(self).model_class(config, **kwargs))
        self.add_heads(config)
        self.post_init()

    def add_heads(self, config: Any) -> None:
        self.cls = type(self).head_class(config)

    def heads(self, base: Any, **labels: torch.Tensor | None) -> Any:
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "forward" not in cls.__dict__ and getattr(cls, "model_class", None) is not None:
            cls.forward = _forward_over(cls)  # type: ignore[attr-defined]


def _forward_over(cls: type[EncoderWithHeads]) -> Callable[..., Any]:
    """``forward(self, <the base model's inputs>, <label_names>, **kwargs)`` for ``cls``."""
    base = inspect.signature(cls.model_class.forward)
    params = list(base.parameters.values())
    rest = [p for p in params if p.kind is inspect.Parameter.VAR_KEYWORD] or [
        inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD, annotation=Any)
    ]
    labels = [
        inspect.Parameter(
            name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=torch.Tensor | None
        )
        for name in cls.label_names
    ]
    inputs = [p for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD]
    signature = base.replace(
        parameters=[*inputs, *labels, *rest],
        return_annotation=inspect.signature(cls.heads).return_annotation,
    )
    extra_name = rest[0].name
    label_names = cls.label_names

    def forward(self: EncoderWithHeads, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        del arguments[next(iter(signature.parameters))]  # self
        extra = arguments.pop(extra_name, {})
        labels = {name: arguments.pop(name, None) for name in label_names}
        outputs = getattr(self, self.base_model_prefix)(**arguments, **{**extra, "return_dict": True})
        return self.heads(outputs, **labels)

    forward.__signature__ = signature  # type: ignore[attr-defined]
    then = f", then {', '.join(label_names)}" if label_names else ""
    forward.__doc__ = f"{cls.model_class.__name__}'s inputs{then}: see ``heads``."
    forward.__qualname__ = f"{cls.__qualname__}.forward"
    return can_return_tuple(forward) if cls.tuple_outputs else forward  # type: ignore[no-untyped-call]


class MaskedLMHeads(DecoderAccess, EncoderWithHeads):
    """An MLM head (``cls``; its ``predictions.decoder`` tied to the word embedding) over the encoder."""

    drop_pooler = True  # the MLM logits do not read it

    def heads(self, base: Any, labels: torch.Tensor | None = None) -> MaskedLMOutput:  # type: ignore[override]
        return masked_lm_output(self.cls(base.last_hidden_state), labels, base)


class PreTrainingHeads(DecoderAccess, EncoderWithHeads):
    """BERT's two pre-training heads (``cls``: MLM over every position, next sentence over the pooled one)."""

    label_names = ("labels", "next_sentence_label")

    def heads(  # type: ignore[override]
        self,
        base: Any,
        labels: torch.Tensor | None = None,
        next_sentence_label: torch.Tensor | None = None,
    ) -> BertForPreTrainingOutput:
        logits, nsp_logits = self.cls(base.last_hidden_state, base.pooler_output)
        return pretraining_output(logits, nsp_logits, labels, next_sentence_label, base)


__all__ = ["EncoderWithHeads", "MaskedLMHeads", "PreTrainingHeads", "tied_decoder"]
