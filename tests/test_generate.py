"""Generation as users meet it: ``zhplm generate`` (streaming, --json, batches, stop strings, sampling with a
seed, beam search), ``zhplm chat`` driven through stdin (history, /reset, /exit, MMI rerank), and the refusal
of a model whose LM head is absent or untrained before any weight is read.

The models are tiny GPT-2s written with transformers 5 in the HF-era layout (their parity with transformers
4.46.3 and the authors' loops is in test_parity_gpt.py); expected texts come from transformers' own
``generate`` on the same weights, never from the code under test."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

import zhplm
from helpers_converted import gpt2_release
from zhplm.cli.main import main
from zhplm.errors import ConversionError
from zhplm.tasks.chat import Chat
from zhplm.tasks.generate import TextGeneration, cut_at_stop, held_back

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets"
SMALL_VOCAB = ASSETS / "Morizeyao+GPT2-Chinese" / "cache" / "vocab_small.txt"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("gen")
    gpt2_release(tmp / "dialogue", SMALL_VOCAB, seed=0)
    gpt2_release(tmp / "mmi", SMALL_VOCAB, seed=1)
    zhplm.convert(tmp / "dialogue", tmp / "chitchat", prompt_format="chitchat")
    zhplm.convert(tmp / "mmi", tmp / "mmi-out", prompt_format="chitchat-mmi")
    zhplm.convert(tmp / "dialogue", tmp / "plain")
    return {"chitchat": tmp / "chitchat", "mmi": tmp / "mmi-out", "plain": tmp / "plain"}


def _transformers_greedy(folder: Path, ids: list[int], n: int, **kwargs: Any) -> list[int]:
    model = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
    t = torch.tensor([ids])
    with torch.inference_mode():
        out = model.generate(t, attention_mask=torch.ones_like(t), max_new_tokens=n, pad_token_id=0, **kwargs)
    return list(out[0, len(ids) :].tolist())


def _cli(args: list[str], capsys: pytest.CaptureFixture[str], stdin: str | None = None) -> tuple[int, str]:
    if stdin is not None:
        import sys

        old = sys.stdin
        sys.stdin = io.StringIO(stdin)
        try:
            code = main(args)
        finally:
            sys.stdin = old
    else:
        code = main(args)
    return code, capsys.readouterr().out


def test_generate_streams_the_same_text_json_returns(
    models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(models["plain"])
    gen = TextGeneration.from_model(folder)
    tok = gen.tokenizer
    prompt_ids = tok("今天天气", add_special_tokens=False)["input_ids"]
    expected = _transformers_greedy(models["plain"], prompt_ids, 12, eos_token_id=None)
    pieces: list[str] = []
    result = gen("今天天气", max_new_tokens=12, on_text=pieces.append)
    assert result.token_ids == expected
    assert len(pieces) > 1 and "".join(pieces) == result.text  # streamed piece by piece
    assert not re.search(r"[\u4e00-\u9fff] | [\u4e00-\u9fff]", result.text)  # no spaces around Chinese
    assert (
        list(gen.stream("今天天气", max_new_tokens=12))
        and "".join(gen.stream("今天天气", max_new_tokens=12)) == result.text
    )
    code, out = _cli(["generate", folder, "今天天气", "--max-new-tokens", "12"], capsys)
    assert code == 0 and out == "今天天气" + result.text + "\n"
    code, out = _cli(["generate", folder, "今天天气", "--max-new-tokens", "12", "--json"], capsys)
    data = json.loads(out)
    assert data["text"] == result.text and data["token_ids"] == expected and data["finish_reason"] == "length"


def test_batch_from_a_file_equals_one_by_one(
    models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = ["今天天气", "我们", "他说：这是一个很长的开头"]
    (tmp_path / "prompts.txt").write_text("\n".join(prompts) + "\n\n", encoding="utf-8")
    gen = TextGeneration.from_model(models["plain"])
    one = [gen(p, max_new_tokens=8).token_ids for p in prompts]
    code, out = _cli(
        [
            "generate",
            str(models["plain"]),
            "--file",
            str(tmp_path / "prompts.txt"),
            "--max-new-tokens",
            "8",
            "--json",
        ],
        capsys,
    )
    rows = json.loads(out)
    assert code == 0 and [r["prompt"] for r in rows] == prompts
    assert [r["token_ids"] for r in rows] == one  # left padding does not change a row's text


def test_stop_strings_cut_the_text_and_the_stream(models: dict[str, Path]) -> None:
    gen = TextGeneration.from_model(models["plain"])
    full = gen("今天天气", max_new_tokens=12).text
    stop = full[4:6]
    assert stop and full.find(stop) == 4
    pieces: list[str] = []
    cut = gen("今天天气", max_new_tokens=12, stop=[stop], on_text=pieces.append)
    assert cut.text == full[:4] and cut.finish_reason == "stop"
    assert "".join(pieces) == full[:4]  # what could begin a stop string is held back
    assert len(cut.token_ids) < 12  # generation ended early
    assert cut_at_stop("abcdef", ["cd", "e"]) == ("ab", True) and held_back("xxab", ["abc"]) == 2


def test_sampling_is_seeded_and_beam_search_runs(models: dict[str, Path]) -> None:
    gen = TextGeneration.from_model(models["plain"])
    a = gen("今天", max_new_tokens=10, sample=True, temperature=1.5, top_k=50, top_p=0.95, seed=3)
    b = gen("今天", max_new_tokens=10, sample=True, temperature=1.5, top_k=50, top_p=0.95, seed=3)
    c = gen("今天", max_new_tokens=10, sample=True, temperature=1.5, top_k=50, top_p=0.95, seed=4)
    assert a.token_ids == b.token_ids and a.token_ids != c.token_ids
    tok = gen.tokenizer
    ids = tok("今天", add_special_tokens=False)["input_ids"]
    beams = gen("今天", max_new_tokens=10, num_beams=3)
    assert beams.token_ids == _transformers_greedy(models["plain"], ids, 10, num_beams=3, eos_token_id=None)
    penal = gen("今天", max_new_tokens=10, repetition_penalty=1.3)
    assert penal.token_ids == _transformers_greedy(
        models["plain"], ids, 10, repetition_penalty=1.3, eos_token_id=None
    )
    with pytest.raises(ConversionError, match="temperature"):
        gen("今天", temperature=0)
    with pytest.raises(ConversionError, match="unknown generation option"):
        gen("今天", max_tokens=3)
    with pytest.raises(ConversionError, match="positions"):
        gen("今天", max_new_tokens=1000)


def test_chat_keeps_history_resets_and_exits_through_stdin(
    models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(models["chitchat"])
    gen = TextGeneration.from_model(folder)
    tok = gen.tokenizer
    first = gen.run(
        [gen.format.encode_dialogue(tok, ["你好"])], ["你好"], gen.options.__class__(max_new_tokens=8)
    )[0][0]
    # the chitchat layout, literally: [CLS] 你 好 [SEP]; the reply ends at [SEP], [UNK] is never produced
    prompt = [tok.cls_token_id, *tok.convert_tokens_to_ids(["你", "好"]), tok.sep_token_id]
    expected = _transformers_greedy(
        models["chitchat"], prompt, 8, eos_token_id=tok.sep_token_id, bad_words_ids=[[tok.unk_token_id]]
    )
    assert first.token_ids == [t for t in expected if t != tok.sep_token_id][: len(first.token_ids)]
    second_prompt = gen.format.encode_dialogue(tok, ["你好", first.text, "再见"]).input_ids
    second = gen.run(
        [gen.format.encode_dialogue(tok, ["你好", first.text, "再见"])],
        ["再见"],
        gen.options.__class__(max_new_tokens=8),
    )[0][0]
    assert second_prompt.count(tok.sep_token_id) == 3
    stdin = "你好\n再见\n/reset\n你好\n/exit\n不会读到\n"
    code, out = _cli(["chat", folder, "--greedy", "--max-new-tokens", "8"], capsys, stdin)
    lines = out.split("\n")
    assert code == 0
    assert lines[:3] == [first.text, second.text, first.text]  # history kept, then forgotten by /reset
    assert lines[3:] == [""]  # nothing after /exit
    code, out = _cli(["chat", folder, "--greedy", "--max-new-tokens", "8", "--json"], capsys, "你好\n")
    assert json.loads(out) == [{"user": "你好", "reply": first.text, "candidates": []}]


def test_mmi_reranker_picks_the_reply_the_reverse_model_finds_likeliest(models: dict[str, Path]) -> None:
    chat = Chat.from_model(models["chitchat"], reranker=models["mmi"], candidates=3)
    chat.generator.options = chat.generator.options.__class__(max_new_tokens=6, sample=True, top_k=8, seed=0)
    reply = chat.say("你好")
    assert len(reply.candidates) == 3 and reply.text in reply.candidates
    mmi = transformers.GPT2LMHeadModel.from_pretrained(models["mmi"]).eval()
    tok = chat.reranker.tokenizer if chat.reranker else None
    assert tok is not None
    losses = []
    for cand in reply.candidates:  # interact_mmi.py: [CLS] reply [SEP] + reversed history, each + [SEP]
        ids = [tok.cls_token_id, *tok(cand, add_special_tokens=False)["input_ids"], tok.sep_token_id]
        ids += [*tok("你好", add_special_tokens=False)["input_ids"], tok.sep_token_id]
        t = torch.tensor([ids])
        with torch.inference_mode():
            losses.append(float(mmi(input_ids=t, labels=t).loss))
    assert reply.text == reply.candidates[losses.index(min(losses))]
    assert chat.history == ["你好", reply.text]


def test_generation_refuses_an_absent_or_untrained_lm_head_before_loading(
    models: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shutil

    folder = tmp_path / "untrained"
    shutil.copytree(models["plain"], folder)
    record = json.loads((folder / "zhplm.json").read_text(encoding="utf-8"))
    record["heads"] = {"lm": "untrained"}
    (folder / "zhplm.json").write_text(json.dumps(record), encoding="utf-8")

    def no_load(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("weights were loaded before the refusal")

    monkeypatch.setattr(transformers.PreTrainedModel, "from_pretrained", classmethod(no_load))
    with pytest.raises(ConversionError, match="lm head, which is untrained"):
        zhplm.pipeline("text-generation", folder)
    code, out = _cli(["generate", str(folder), "你好", "--json"], capsys)
    assert code != 0 and "untrained" in out
    monkeypatch.undo()
    with pytest.raises(ConversionError, match="no dialogue format"):
        Chat.from_model(models["plain"])


def test_catalog_rows_name_known_prompt_formats_and_rerankers() -> None:
    from zhplm.catalog import get_catalog
    from zhplm.tasks.prompting import FORMATS

    catalog = get_catalog()
    rows = [r for r in catalog.records if r.prompt_format or r.reranker]
    assert {r.id for r in rows} >= {"cdial-gpt-lccc-base", "gpt2-chitchat-dialogue", "gpt2-chinese-poem"}
    for r in rows:
        assert r.prompt_format in FORMATS, r.id
        if r.reranker:
            assert catalog.get(r.reranker).prompt_format == "chitchat-mmi"


@pytest.mark.parametrize("kind", ["t5", "bart"])
def test_encoder_decoders_generate_through_the_same_api(tmp_path: Path, kind: str) -> None:
    """`text2text-generation` (= text-generation on an encoder-decoder folder): the prompt goes to the encoder
    with the tokenizer's specials and right padding; the reply is what `generate` decodes, cut at [SEP];
    batches equal one-by-one runs and the stream equals the final text."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"今天天气很好我们去公园散步北京上海春夏秋冬"]
    vocab = list(dict.fromkeys(vocab))
    folder = tmp_path / kind
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = transformers.BertTokenizer(str(folder / "vocab.txt"))
    tok.save_pretrained(str(folder))
    torch.manual_seed(3)
    if kind == "t5":
        config = transformers.T5Config(vocab_size=len(vocab), d_model=16, d_kv=4, d_ff=32, num_layers=2,
                                       num_heads=4, decoder_start_token_id=2, eos_token_id=3, pad_token_id=0)  # fmt: skip
        model = transformers.T5ForConditionalGeneration(config)
    else:
        config = transformers.BartConfig(vocab_size=len(vocab), d_model=16, encoder_layers=2, decoder_layers=2,
                                         encoder_attention_heads=4, decoder_attention_heads=4,
                                         encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
                                         decoder_start_token_id=3, bos_token_id=2, eos_token_id=3, pad_token_id=0,
                                         forced_eos_token_id=None)  # fmt: skip
        model = transformers.BartForConditionalGeneration(config)
    model.eval().save_pretrained(str(folder))

    writer = zhplm.pipeline("text2text-generation", folder)
    assert writer.format.name == "seq2seq"
    prompts = ["今天天气很好", "我们去北京"]
    got = [writer(p, max_new_tokens=8) for p in prompts]
    for prompt, g in zip(prompts, got, strict=True):
        enc = tok(prompt, return_tensors="pt", return_token_type_ids=False)
        with torch.inference_mode():
            out = model.generate(
                **enc, max_new_tokens=8, do_sample=False, num_beams=1, eos_token_id=[3], pad_token_id=0
            )
        want = out[0, 1:].tolist()
        want = want[: want.index(3)] if 3 in want else want
        assert g.token_ids == want, (kind, prompt)
    assert [g.token_ids for g in writer.batch(prompts, max_new_tokens=8)] == [g.token_ids for g in got]
    assert "".join(writer.stream(prompts[0], max_new_tokens=8)) == got[0].text
