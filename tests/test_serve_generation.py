"""``zhplm serve`` generates through zhplm's own pipeline: a dialogue model's chat is prompted in its own
format (CDial-GPT's speaker tokens and token types, GPT2-chitchat's ``[SEP]`` turns, banned ``[UNK]``, stop
tokens), so the ``openai`` client's stream, its non-streamed answer and ``zhplm.pipeline("chat")`` /
``zhplm.pipeline("text-generation")`` on the same input are the same text; CDial-GPT's prompt is also
checked token by token against transformers' own ``generate`` fed the layout of the authors' interact.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="zhplm[serve] is not installed")
openai = pytest.importorskip("openai")

import zhplm  # noqa: E402
from helpers_converted import gpt2_release  # noqa: E402
from helpers_serve import running  # noqa: E402

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets"
CDIAL_VOCAB = ASSETS / "thu-coai+CDial-GPT" / "config" / "cgpt" / "vocab.txt"
SMALL_VOCAB = ASSETS / "Morizeyao+GPT2-Chinese" / "cache" / "vocab_small.txt"
DIALOGUE = [
    {"role": "system", "content": "这条不进入这些模型的格式"},
    {"role": "user", "content": "你好"},
    {"role": "assistant", "content": "你好，很高兴认识你"},
    {"role": "user", "content": "今天天气怎么样"},
]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("serve-gen")
    gpt2_release(tmp / "cdial-release", CDIAL_VOCAB, seed=2)
    gpt2_release(tmp / "chitchat-release", SMALL_VOCAB, seed=0)
    zhplm.convert(tmp / "cdial-release", tmp / "cdial", prompt_format="cdial")
    zhplm.convert(tmp / "chitchat-release", tmp / "chitchat", prompt_format="chitchat")
    zhplm.convert(tmp / "chitchat-release", tmp / "gpt2")  # no prompt format: plain continuation
    return {name: tmp / name for name in ("cdial", "chitchat", "gpt2")}


@pytest.fixture(scope="module")
def client(dirs: dict[str, Path]) -> Iterator[Any]:
    with running(dirs, max_models=3) as (url, _):
        yield openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=120)


def _chat_both_ways(client: Any, model: str, messages: list[dict[str, str]], **kwargs: Any) -> str:
    """The streamed text, after checking it equals the non-streamed answer and really came in pieces."""
    whole = client.chat.completions.create(model=model, messages=messages, **kwargs)
    chunks = list(client.chat.completions.create(model=model, messages=messages, stream=True, **kwargs))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == whole.choices[0].message.content
    assert len(pieces) > 1, pieces  # token by token, not one piece at the end
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    return str(whole.choices[0].message.content)


def _pipeline_chat(folder: Path, messages: list[dict[str, str]], **options: Any) -> str:
    chat = zhplm.pipeline("chat", folder, use_reranker=False)
    turns = [m["content"] for m in messages if m["role"] != "system"]
    chat.history = turns[:-1]
    return str(chat.say(turns[-1], **options).text)


@pytest.mark.parametrize("model", ["cdial", "chitchat"])
def test_dialogue_chat_streams_the_pipelines_greedy_reply(
    client: Any, dirs: dict[str, Path], model: str
) -> None:
    got = _chat_both_ways(client, model, DIALOGUE, max_tokens=12, temperature=0)
    assert got == _pipeline_chat(dirs[model], DIALOGUE, sample=False, max_new_tokens=12)


def test_cdial_prompt_has_the_speaker_tokens_of_interact_py(client: Any, dirs: dict[str, Path]) -> None:
    """transformers' generate on the layout written out by hand: [CLS] [speaker1] 你 好 [speaker2] … [speaker2],
    token types = the speaker of each segment; the reply ends at any special token."""
    import torch
    import transformers

    tok = transformers.BertTokenizer(str(dirs["cdial"] / "vocab.txt"))
    cls, s1, s2 = tok.convert_tokens_to_ids(["[CLS]", "[speaker1]", "[speaker2]"])
    ids, types = [cls], [cls]
    for n, text in enumerate(["你好", "你好，很高兴认识你", "今天天气怎么样", ""]):
        speaker = s1 if n % 2 == 0 else s2
        segment = [speaker, *tok.convert_tokens_to_ids(list(text))]
        ids += segment
        types += [speaker] * len(segment)
    model = transformers.GPT2LMHeadModel.from_pretrained(dirs["cdial"]).eval()
    stops = tok.convert_tokens_to_ids(["[CLS]", "[SEP]", "[PAD]", "[speaker1]", "[speaker2]"])
    with torch.inference_mode():
        out = model.generate(
            torch.tensor([ids]),
            token_type_ids=torch.tensor([types]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=12,
            do_sample=False,
            eos_token_id=stops,
            pad_token_id=0,
        )
    new = out[0, len(ids) :].tolist()
    new = new[: next((i for i, t in enumerate(new) if t in stops), len(new))]
    expected = "".join(tok.convert_ids_to_tokens(new))
    assert expected and "#" not in expected  # every generated token is a whole character here
    got = client.chat.completions.create(model="cdial", messages=DIALOGUE, max_tokens=12, temperature=0)
    assert got.choices[0].message.content == expected


def test_chat_defaults_of_the_format_apply_when_the_client_sets_none(
    client: Any, dirs: dict[str, Path]
) -> None:
    """No temperature from the client: GPT2-chitchat samples with its interact.py defaults (top-k 8), as
    ``zhplm chat`` does; the same seed gives the same reply."""
    got = client.chat.completions.create(model="chitchat", messages=DIALOGUE, max_tokens=10, seed=11)
    assert got.choices[0].message.content == _pipeline_chat(
        dirs["chitchat"], DIALOGUE, max_new_tokens=10, seed=11
    )


def test_plain_gpt2_chat_and_completions_equal_text_generation(client: Any, dirs: dict[str, Path]) -> None:
    gen = zhplm.pipeline("text-generation", dirs["gpt2"])
    expected = gen("今天天气", max_new_tokens=12)
    one = [{"role": "user", "content": "今天天气"}]
    assert _chat_both_ways(client, "gpt2", one, max_tokens=12, temperature=0) == expected.text
    whole = client.completions.create(model="gpt2", prompt="今天天气", max_tokens=12, temperature=0)
    parts = [
        c.choices[0].text
        for c in client.completions.create(
            model="gpt2", prompt="今天天气", max_tokens=12, temperature=0, stream=True
        )
    ]
    assert "".join(parts) == whole.choices[0].text == expected.text
    # stop strings are the pipeline's: the text ends before one, and the reason says so
    stop = expected.text[3:5]
    cut = client.completions.create(model="gpt2", prompt="今天天气", max_tokens=12, temperature=0, stop=stop)
    assert cut.choices[0].text == gen("今天天气", max_new_tokens=12, stop=[stop]).text
    assert cut.choices[0].finish_reason == "stop" and len(cut.choices[0].text) < len(expected.text)
    assert whole.usage.prompt_tokens == 4 and whole.usage.completion_tokens == 12


def test_messages_a_format_cannot_read_are_refused(client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as plain:
        client.chat.completions.create(model="gpt2", messages=DIALOGUE, max_tokens=4)
    assert "not a dialogue format" in str(plain.value) and "/v1/completions" in str(plain.value)
    for messages in (DIALOGUE[:3], [{"role": "assistant", "content": "你好"}, DIALOGUE[1]]):
        with pytest.raises(openai.UnprocessableEntityError) as bad:
            client.chat.completions.create(model="chitchat", messages=messages, max_tokens=4)
        assert "user" in str(bad.value)
    good = client.chat.completions.create(model="chitchat", messages=DIALOGUE, max_tokens=4, temperature=0)
    assert good.choices[0].message.role == "assistant"
