"""T5 family against the libraries that wrote the releases.

* ``t5`` (UER T5, v1.0; Mengzi-T5, v1.1): transformers 4.46.3 writes a random ``T5ForConditionalGeneration``
  folder (``pytorch_model.bin``, as the releases were published), computes encoder outputs, logits and its
  own greedy ``generate``; zhplm converts and loads it with transformers 5.
* ``mt5`` (T5-PEGASUS): bert4keras 0.11.5 builds ``mt5.1.1`` as the authors' finetune.py does, saves its
  own TF1 checkpoint, computes encoder outputs, decoder logits/probabilities and an ``AutoRegressiveDecoder``
  greedy decode from ``[CLS]`` to ``[SEP]``; zhplm converts and loads it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zhplm
from helpers_parity import compare
from oracle import run_oracle
from zhplm.converter import record_parity

TEXTS = [
    "今天天气不错，我们去北京。",
    "中国人民的生活",
    "Hello World 123 摘要生成模型",
    "extra0 是 UER 的哨兵",
    "春夏秋冬，山水花鸟。",
    "",
]
# no padding in the T5-PEGASUS inputs: bert4keras masks id 0 and does not mask padded context in the decoder
B4K_INPUTS = {
    "input_ids": [[2, 15, 30, 41, 7, 22, 90, 3], [2, 60, 61, 62, 63, 64, 65, 3]],
    "decoder_input_ids": [[2, 17, 40, 5, 9], [2, 33, 70, 71, 99]],
    "max_new_tokens": 16,
}
HF_INPUTS = {
    "input_ids": [[15, 30, 41, 7, 22, 90, 44, 1], [60, 61, 62, 63, 64, 1, 0, 0]],
    "attention_mask": [[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0, 0]],
    "decoder_input_ids": [[0, 17, 40, 5, 9], [0, 33, 70, 71, 99]],
    "max_new_tokens": 14,
}
SPIECE_TEXT = (
    "今天天气不错我们去北京看看中国人民的生活摘要生成模型很好用大家都喜欢学习新的知识春夏秋冬山水花鸟风云雨雪"
)


def _run(model: Any, feeds: dict[str, Any]) -> tuple[dict[str, np.ndarray[Any, Any]], list[int]]:
    import torch

    ids = torch.tensor(feeds["input_ids"])
    mask = torch.tensor(feeds.get("attention_mask", np.ones_like(feeds["input_ids"])))
    dec = torch.tensor(feeds["decoder_input_ids"])
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec)
        greedy = model.generate(
            input_ids=ids[:1],
            attention_mask=mask[:1],
            do_sample=False,
            num_beams=1,
            max_new_tokens=feeds["max_new_tokens"],
        )
    arrays = {
        "encoder_last_hidden_state": out.encoder_last_hidden_state.numpy(),
        "logits": out.logits.numpy(),
    }
    return arrays, greedy[0].tolist()


def _hf4(flavor: str, tmp: Path, seed: int) -> tuple[Path, Any, list[list[int]]]:
    (tmp / "in.json").write_text(json.dumps(HF_INPUTS), encoding="utf-8")
    (tmp / "texts.json").write_text(json.dumps(TEXTS, ensure_ascii=False), encoding="utf-8")
    ckpt = tmp / flavor
    if flavor == "mengzi":
        _spiece(ckpt)
    run_oracle(
        "t5_family.py", "hf4", "--flavor", flavor, "--dir", ckpt, "--seed", str(seed),
        "--inputs", tmp / "in.json", "--out", tmp / "ref.npz", "--texts", tmp / "texts.json",
    )  # fmt: skip
    tokens = json.loads((tmp / "tokens.json").read_text(encoding="utf-8"))
    return ckpt, np.load(tmp / "ref.npz"), tokens


def _spiece(folder: Path) -> None:
    """A small unigram sentencepiece model with T5's ids (pad 0, eos 1, unk 2), as Mengzi's spiece.model."""
    import sentencepiece as spm

    folder.mkdir(parents=True)
    sentences = [SPIECE_TEXT[i : i + 12] for i in range(len(SPIECE_TEXT) - 12)] * 20
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_prefix=str(folder / "spiece"), vocab_size=80,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=1.0,
        minloglevel=2, hard_vocab_limit=False,
    )  # fmt: skip
    (folder / "spiece.vocab").unlink()


def _check_generation(ours: list[int], ref: Any, min_tokens: int = 10) -> None:
    assert ours == ref["greedy"].tolist()
    assert len(ours) - 1 >= min_tokens  # the comparison covers 10+ decoded tokens, not an early stop


def _check_against_hf4(model: Any, ref: Any, out: Path) -> dict[str, np.ndarray[Any, Any]]:
    """Encoder output (real positions) and logits within 1e-4 of transformers 4.46.3; greedy decoding equal."""
    ours, greedy = _run(model, HF_INPUTS)
    mask = np.asarray(HF_INPUTS["attention_mask"])
    diffs = compare({"encoder_last_hidden_state": ours["encoder_last_hidden_state"]}, ref, mask)
    diffs |= compare({"logits": ours["logits"]}, ref)
    record_parity(out, {"reference": "transformers 4.46.3 T5ForConditionalGeneration", **diffs})
    assert max(diffs.values()) < 1e-4
    _check_generation(greedy, ref)
    return ours


@pytest.mark.oracle
def test_uer_t5_v10_matches_transformers4(tmp_path: Path) -> None:
    ckpt, ref, ref_tokens = _hf4("uer", tmp_path, seed=7)
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert result.arch == "t5" and result.architectures == ["T5ForConditionalGeneration"]
    assert ("lm_head.weight", "v1.0 head: tied to shared.weight") in result.plan.ignored
    model, tokenizer, _, _ = zhplm.load(tmp_path / "out")
    assert model.config.scale_decoder_outputs is True  # v1.0 scales the decoder output before the tied head
    assert model.lm_head.weight.data_ptr() == model.shared.weight.data_ptr()
    _check_against_hf4(model, ref, tmp_path / "out")
    assert [tokenizer(t)["input_ids"] for t in TEXTS] == ref_tokens
    assert tokenizer.convert_ids_to_tokens(tokenizer("extra3 北京")["input_ids"])[1] == "extra3"


@pytest.mark.oracle
def test_mengzi_t5_v11_head_stays_untied_after_save_and_reload(tmp_path: Path) -> None:
    import torch
    from transformers import T5ForConditionalGeneration

    ckpt, ref, ref_tokens = _hf4("mengzi", tmp_path, seed=5)
    result = zhplm.convert(ckpt, tmp_path / "out")
    assert result.arch == "t5" and result.heads == {"lm": "trained"}
    assert not any(name == "lm_head.weight" for name, _ in result.plan.ignored)
    model, tokenizer, _, _ = zhplm.load(tmp_path / "out")
    direct = T5ForConditionalGeneration.from_pretrained(tmp_path / "out")  # transformers 5 alone, no zhplm
    for m in (model, direct):
        assert m.config.scale_decoder_outputs is False
        head = m.lm_head.weight.detach().numpy()
        assert np.array_equal(head, ref["lm_head"])  # the original head tensor …
        assert not np.allclose(head, m.shared.weight.detach().numpy())  # … not the embedding
    ours = _check_against_hf4(model, ref, tmp_path / "out")
    # a second save/reload round (what a user fine-tuning the folder does) keeps the head untied too
    model.save_pretrained(tmp_path / "again")
    again = T5ForConditionalGeneration.from_pretrained(tmp_path / "again")
    assert np.array_equal(again.lm_head.weight.detach().numpy(), ref["lm_head"])
    with torch.inference_mode():
        again_logits = again(
            input_ids=torch.tensor(HF_INPUTS["input_ids"][:1]),
            decoder_input_ids=torch.tensor(HF_INPUTS["decoder_input_ids"][:1]),
        ).logits.numpy()
    assert np.abs(again_logits - ours["logits"][:1]).max() < 1e-5
    assert [tokenizer(t)["input_ids"] for t in TEXTS] == ref_tokens


@pytest.mark.oracle
def test_v11_folder_without_its_head_is_refused(tmp_path: Path) -> None:
    import torch

    ckpt, _, _ = _hf4("mengzi", tmp_path, seed=5)
    state = torch.load(ckpt / "pytorch_model.bin", weights_only=True)
    del state["lm_head.weight"]
    torch.save(state, ckpt / "pytorch_model.bin")
    with pytest.raises(zhplm.errors.ConversionError, match=r"no lm_head\.weight"):
        zhplm.convert(ckpt, tmp_path / "out", arch="t5")
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def pegasus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    tmp = tmp_path_factory.mktemp("t5_pegasus")
    (tmp / "in.json").write_text(json.dumps(B4K_INPUTS), encoding="utf-8")
    run_oracle("t5_family.py", "b4k-write", "--dir", tmp / "ckpt", "--seed", "1")
    run_oracle(
        "t5_family.py",
        "b4k-forward",
        "--dir",
        tmp / "ckpt",
        "--inputs",
        tmp / "in.json",
        "--out",
        tmp / "ref.npz",
    )
    return tmp / "ckpt", np.load(tmp / "ref.npz")


@pytest.mark.oracle
def test_t5_pegasus_matches_bert4keras(pegasus: tuple[Path, Any], tmp_path: Path) -> None:
    import torch

    ckpt, ref = pegasus
    result = zhplm.convert(ckpt, tmp_path / "out", model_id="t5-pegasus-small")
    assert result.arch == "mt5" and result.scheme == "bert4keras-tf1"
    assert result.architectures == ["T5PegasusForConditionalGeneration"] and not result.plan.unmatched
    vocab = (ckpt / "vocab.txt").read_text(encoding="utf-8").split("\n")
    config = json.loads((tmp_path / "out" / "config.json").read_text(encoding="utf-8"))
    assert config["decoder_start_token_id"] == vocab.index("[CLS]")
    assert config["eos_token_id"] == vocab.index("[SEP]")
    model, tokenizer, _, _ = zhplm.load(tmp_path / "out")
    assert model.lm_head.weight.data_ptr() != model.shared.weight.data_ptr()
    ours, greedy = _run(model, B4K_INPUTS)
    probs = torch.from_numpy(ours["logits"]).softmax(-1).numpy()
    diffs = compare({**ours, "probs": probs}, ref)
    record_parity(tmp_path / "out", {"reference": "bert4keras 0.11.5 mt5.1.1", **diffs})
    assert max(diffs.values()) < 1e-4
    _check_generation(greedy, ref)
    assert greedy[0] == vocab.index("[CLS]")
    assert type(tokenizer).__name__ == "JiebaWordPieceTokenizer"


@pytest.mark.oracle
def test_t5_pegasus_needs_the_cross_attention_position_bias(
    pegasus: tuple[Path, Any], tmp_path: Path
) -> None:
    """Plain mT5 on the same converted weights departs from bert4keras after the first decoder position:
    the bias zhplm's class adds is what makes the logits match."""
    from transformers import MT5Config, MT5ForConditionalGeneration

    ckpt, ref = pegasus
    zhplm.convert(ckpt, tmp_path / "out", arch="mt5")
    ours, _, _, _ = zhplm.load(tmp_path / "out")
    # the same folder through transformers' own mT5 class (its distinct lm_head keeps the head untied)
    plain = MT5ForConditionalGeneration.from_pretrained(
        tmp_path / "out", config=MT5Config(**ours.config.to_dict())
    )
    assert np.array_equal(plain.lm_head.weight.detach().numpy(), ours.lm_head.weight.detach().numpy())
    assert np.array_equal(plain.shared.weight.detach().numpy(), ours.shared.weight.detach().numpy())
    logits, _ = _run(plain, B4K_INPUTS)
    assert np.abs(logits["logits"][:, 0] - ref["logits"][:, 0]).max() < 1e-4  # position 0: bias is constant
    assert np.abs(logits["logits"] - ref["logits"]).max() > 1e-2


@pytest.mark.oracle
def test_t5_pegasus_tokenizer_equals_the_authors(pegasus: tuple[Path, Any], tmp_path: Path) -> None:
    ckpt, _ = pegasus
    texts = [*TEXTS, "我们今天在北京生成摘要", "中国的模型不错"]
    (tmp_path / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    run_oracle("tokenize_bert4keras.py", ckpt / "vocab.txt", tmp_path / "texts.json", tmp_path / "ref.json")
    ref = json.loads((tmp_path / "ref.json").read_text(encoding="utf-8"))
    zhplm.convert(ckpt, tmp_path / "out", model_id="t5-pegasus-base")
    _, tokenizer, _, _ = zhplm.load(tmp_path / "out")
    assert [tokenizer(t)["input_ids"] for t in texts] == [r["ids"] for r in ref]
    assert any(len(tok) > 1 and "##" not in tok for r in ref for tok in r["tokens"][1:-1])  # words kept whole


@pytest.mark.oracle
def test_t5_pegasus_without_vocab_is_refused(pegasus: tuple[Path, Any], tmp_path: Path) -> None:
    ckpt, _ = pegasus
    bare = tmp_path / "bare"
    shutil.copytree(ckpt, bare)
    (bare / "vocab.txt").unlink()
    with pytest.raises(zhplm.errors.ConversionError, match=r"\[CLS\]"):
        zhplm.convert(bare, tmp_path / "out", arch="mt5")
    assert not (tmp_path / "out").exists()


@pytest.mark.oracle
def test_the_oracles_follow_the_authors_finetune_script() -> None:
    """The bert4keras oracle (t5_family.py, tokenize_bert4keras.py) makes the calls of the authors' own
    finetune.py (ZhuiyiTechnology/t5-pegasus, snapshot pinned in SNAPSHOTS.txt): model, tokenizer, decoder."""
    import re
    import subprocess

    from oracle import require_original, snapshots

    repo = "ZhuiyiTechnology/t5-pegasus"
    git_dir = require_original(repo)
    source = subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{snapshots()[repo]}:finetune.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    compact = re.sub(r"\s+", "", source)
    for call in (
        "Tokenizer(dict_path,do_lower_case=True,pre_tokenize=lambdas:jieba.cut(s,HMM=False))",
        "model='mt5.1.1',return_keras_model=False,name='T5',",
        "start_id=tokenizer._token_start_id,end_id=tokenizer._token_end_id,",
        "returnself.last_token(decoder).predict([c_encoded,output_ids])",
        "c_encoded=encoder.predict(np.array([c_token_ids]))[0]",
    ):
        assert call in compact, call


def test_t5_config_claiming_other_depths_is_refused(tmp_path: Path) -> None:
    """A config.json whose layer counts the tensors do not hold is refused before any model is built."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    cfg = {"vocab_size": 40, "d_model": 16, "d_kv": 4, "d_ff": 32, "num_layers": 2, "num_heads": 4}
    model = T5ForConditionalGeneration(T5Config(**cfg))
    for claim in ({"num_decoder_layers": 10_000_000}, {"num_layers": 3}):
        ckpt = tmp_path / str(len(claim) + sum(claim.values()))
        ckpt.mkdir()
        torch.save(model.state_dict(), ckpt / "pytorch_model.bin")
        (ckpt / "config.json").write_text(json.dumps({**cfg, **claim, "model_type": "t5"}), encoding="utf-8")
        with pytest.raises(zhplm.errors.ConversionError, match=next(iter(claim))):
            zhplm.convert(ckpt, tmp_path / "out", arch="t5")
        assert not (tmp_path / "out").exists()
