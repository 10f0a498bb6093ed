"""LatticeTokenizer behaviour beyond the parity fixture (tests/test_parity_lattice_bert.py compares it with
the original AliceMind tokenizer): word ids and clusters, spans, truncation in lattice tokens, padding,
decoding, the save / AutoTokenizer round trip, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from zhplm.arch.tokenization.lattice import LatticeTokenizer, register

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CHARS = list("我们是中国人北京大学生的天气很好说话")
LEXICON = [
    "中国",
    "国人",
    "中国人",
    "北京\t地名",
    "南京\t地名",
    "大学",
    "大学生",
    "",
    "天气\tA",
    "天气\tB",
    "说",
]


@pytest.fixture()
def tok(tmp_path: Path) -> LatticeTokenizer:
    (tmp_path / "vocab.txt").write_text("".join(t + "\n" for t in SPECIALS + CHARS), encoding="utf-8")
    (tmp_path / "lexicon.txt").write_text("".join(w + "\n" for w in LEXICON), encoding="utf-8")
    return LatticeTokenizer(str(tmp_path / "vocab.txt"), str(tmp_path / "lexicon.txt"))


def spans(tok: LatticeTokenizer, enc: dict[str, list[int]]) -> list[tuple[str, int, int]]:
    return [
        (tok.convert_ids_to_tokens(i), s, e)
        for i, s, e in zip(enc["input_ids"], enc["start_position_ids"], enc["end_position_ids"], strict=True)
    ]


def test_word_ids_follow_the_characters_in_first_seen_cluster_order(tok: LatticeTokenizer) -> None:
    base = len(SPECIALS) + len(CHARS)
    clusters = list(dict.fromkeys(line.split("\t")[-1] for line in LEXICON))
    assert tok.vocab_size == base + len(clusters)
    for k, name in enumerate(clusters):
        assert tok.convert_tokens_to_ids(name) == base + k
    # a blank line takes an id and is never matched
    assert "" in clusters and tok.cluster_ids[""] == base + clusters.index("")
    # the named lexicon: two surfaces, one cluster; a surface listed twice: the later cluster matches
    ids = tok("北京南京天气")["input_ids"]
    assert ids.count(tok.convert_tokens_to_ids("地名")) == 2
    assert tok.convert_tokens_to_ids("B") in ids and tok.convert_tokens_to_ids("A") not in ids


def test_every_word_covers_exactly_its_characters(tok: LatticeTokenizer) -> None:
    text = "我们是中国人，北京大学生说天气很好"
    enc = tok(text)
    chars: dict[int, str] = {}
    found = []
    for (name, start, end), token_id in zip(spans(tok, enc), enc["input_ids"], strict=True):
        if start == end and start not in chars:  # a character comes before a one-character word over it
            chars[start] = name
        elif tok.is_word(token_id):
            surface = "".join(chars[p] for p in range(start, end + 1))
            assert any(line.split("\t")[0] == surface for line in LEXICON), (name, surface)
            found.append(surface)
    assert sorted(found) == sorted(["中国", "国人", "中国人", "北京", "大学", "大学生", "说", "天气"])
    ends = [e for _, _, e in spans(tok, enc)]
    assert ends == sorted(ends)  # sorted by end position
    assert enc["input_ids"][0] == tok.cls_token_id and enc["input_ids"][-1] == tok.sep_token_id


def test_pairs_continue_the_positions_and_switch_token_type(tok: LatticeTokenizer) -> None:
    enc = tok("中国人", "大学生")
    first_sep = enc["input_ids"].index(tok.sep_token_id)
    assert enc["start_position_ids"][first_sep] == 4  # [CLS] + 3 characters
    assert enc["token_type_ids"] == [0] * (first_sep + 1) + [1] * (len(enc["input_ids"]) - first_sep - 1)
    assert min(enc["start_position_ids"][first_sep + 1 :]) == 5
    mask = tok("中国人", "大学生", return_special_tokens_mask=True)["special_tokens_mask"]
    assert [i for i, m in enumerate(mask) if m] == [0, first_sep, len(mask) - 1]


def test_truncation_counts_lattice_tokens(tok: LatticeTokenizer) -> None:
    full = tok("中国人", "大学生")
    cut = tok("中国人", "大学生", truncation="only_second", max_length=len(full["input_ids"]) - 2)
    assert len(cut["input_ids"]) == len(full["input_ids"]) - 2
    first_sep = full["input_ids"].index(tok.sep_token_id)
    assert cut["input_ids"][: first_sep + 1] == full["input_ids"][: first_sep + 1]
    tok.truncation_side = "left"
    left = tok("中国人", truncation=True, max_length=4)
    assert left["input_ids"][0] == tok.cls_token_id and len(left["input_ids"]) == 4
    assert min(left["start_position_ids"][1:-1]) == 1  # re-based after dropping from the front
    with pytest.raises(ValueError, match="already empty"):
        tok("中国人", "大学生", truncation="only_second", max_length=4)


def test_batches_pad_positions_on_the_right_only(tok: LatticeTokenizer) -> None:
    batch = tok(["中国人", "说"], padding=True)
    short = batch["input_ids"][1]
    n = len(tok("说")["input_ids"])
    assert len(short) == len(batch["input_ids"][0]) and batch["attention_mask"][1] == [1] * n + [0] * (
        len(short) - n
    )
    assert batch["start_position_ids"][1][n:] == [0] * (len(short) - n)
    with pytest.raises(ValueError, match="right"):
        tok(["中国人", "说"], padding=True, padding_side="left")
    with pytest.raises(ValueError, match="right"):
        LatticeTokenizer(tok.vocab_file, tok.lexicon_file, padding_side="left")


def test_decode_gives_the_characters(tok: LatticeTokenizer) -> None:
    ids = tok("中国人说天气")["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True).replace(" ", "") == "中国人说天气"
    assert len(ids) > len("中国人说天气") + 2


def test_round_trip_through_auto_tokenizer(tok: LatticeTokenizer, tmp_path: Path) -> None:
    register()
    from transformers import AutoTokenizer

    tok.save_pretrained(str(tmp_path / "saved"))
    again = AutoTokenizer.from_pretrained(str(tmp_path / "saved"))
    assert type(again).__name__ == "LatticeTokenizer"
    text = ("我们是中国人，北京大学生说天气很好", "南京的天气")
    assert again(*text) == tok(*text)
    assert again.vocab_size == tok.vocab_size


def test_missing_files_are_refused(tmp_path: Path, tok: LatticeTokenizer) -> None:
    with pytest.raises(ValueError, match="lexicon"):
        LatticeTokenizer(tok.vocab_file, str(tmp_path / "nope.txt"))
    with pytest.raises(ValueError, match="vocab"):
        LatticeTokenizer(str(tmp_path / "nope.txt"), tok.lexicon_file)
