"""Folders that travel: a converted folder of each of zhplm's own architectures, after
``write_remote_code``, loads with plain transformers and ``trust_remote_code=True`` in a subprocess that
cannot import zhplm, and gives the same outputs (and the same tokenisation) as zhplm's own classes."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers.dynamic_module_utils import get_imports, get_relative_imports

import zhplm.remote_code
from zhplm.errors import ConversionError
from zhplm.remote_code import MARKER, own_models, write_remote_code

# model_type → (module, config class, {Auto class: model class}): the registry's own models
MODELS = own_models()

TOL = 1e-6
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TEXTS = ["我们是中国人", "北京大学生说天气很好，中国"]
CHARS = list(dict.fromkeys("".join(TEXTS)))
LEXICON = ["中国", "中国人", "北京", "大学", "大学生", "天气"]
BERT_SIZES: dict[str, Any] = dict(
    hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32
)

# Tiny sizes per model type: a new type in MODELS must add its entry here (the test says so).
TINY: dict[str, dict[str, Any]] = {
    "nezha": {**BERT_SIZES, "max_relative_position": 3},
    "roformer_v2": BERT_SIZES,
    "gau_alpha": dict(hidden_size=16, num_hidden_layers=2, intermediate_size=24, attention_key_size=8),
    "chinesebert": {**BERT_SIZES, "glyph_embedding_dim": 12, "pinyin_embedding_size": 8},
    "zen": {**BERT_SIZES, "num_hidden_word_layers": 2, "word_size": 20, "max_position_embeddings": 32},
    "lattice_bert": {
        **BERT_SIZES,
        "embedding_size": 8,
        "max_position_embeddings": 32,
        "max_relative_position": 4,
        "type_vocab_size": 2,
    },
    "cpt": dict(
        d_model=16,
        encoder_layers=3,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=24,
        max_position_embeddings=32,
        bos_token_id=2,  # [CLS], [SEP] of the tiny vocabulary (the defaults are the 21128-token ids)
        eos_token_id=3,
        decoder_start_token_id=3,
    ),
    "grover": {**BERT_SIZES, "max_position_embeddings": 32, "eos_token_id": 3},
    "pangu_alpha": dict(
        hidden_size=16,
        num_layers=3,
        num_attention_heads=2,
        max_position_embeddings=32,
        eos_token_id=3,
        pad_token_id=0,
    ),
    "glm_blocklm": dict(hidden_size=16, num_layers=2, num_attention_heads=2, max_position_embeddings=32),
    "simbert": BERT_SIZES,
    "unilm": {**BERT_SIZES, "mask_token_id": 4},
    "zhouwenwang": {**BERT_SIZES, "max_position_embeddings": 32},
    "oscar": {**BERT_SIZES, "img_feature_dim": 12, "max_position_embeddings": 32},
    "r2d2": dict(  # the text-only path is what travels through the tokenizer here
        vision_config=dict(
            hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=24, image_size=32
        ),
        text_config={**BERT_SIZES, "vocab_size": 100, "max_position_embeddings": 32},
        joint_config={**BERT_SIZES, "vocab_size": 100, "max_position_embeddings": 32},
        projection_dim=8,
    ),
    "brivl": dict(  # the text tower is what travels through the tokenizer here
        vision_config=dict(width_coefficient=0.1, depth_coefficient=0.1, hidden_dim=128),
        text_config={**BERT_SIZES, "vocab_size": 100, "max_position_embeddings": 32},
        image_size=32,
        projection_dim=128,
        image_transformer_heads=2,
        image_transformer_layers=1,
        text_transformer_heads=2,
        text_transformer_layers=2,
        transformer_ffn_dim=24,
    ),
    "roformer_sim": BERT_SIZES,
    "rwkv1": dict(  # a window shorter than the second text: the sliding window runs too
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        attention_hidden_size=16,
        intermediate_size=40,
        context_length=8,
        copy_size=8,
    ),
    "cogview": dict(
        hidden_size=16, num_layers=2, num_attention_heads=2, max_position_embeddings=40, eos_token_id=3
    ),
    "transfo_xl_megatron": dict(  # a memory shorter than the second text: the memory is cut too
        hidden_size=16,
        num_layers=2,
        num_attention_heads=2,
        mem_length=6,
        eos_token_id=3,
        pad_token_id=0,
    ),
    "t5_pegasus": dict(
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=2,
        num_heads=2,
        decoder_start_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
    ),
    "openai_gpt_cached": dict(n_embd=16, n_head=2, n_layer=2, n_positions=32, eos_token_id=3),
}


def feed_for(model: Any, enc: Any) -> dict[str, Any]:
    """An encoder-decoder also gets the first tokens as decoder input; inputs a model does not take go.
    The child script runs this very function (its source is put into CHILD)."""
    import inspect

    feed = dict(enc)
    if getattr(model.config, "is_encoder_decoder", False):
        feed["decoder_input_ids"] = enc["input_ids"][:, :4]
    params = inspect.signature(model.forward).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        feed = {k: v for k, v in feed.items() if k in params}
    elif "token_type_ids" not in params:
        feed.pop("token_type_ids", None)
    return feed


# The child: zhplm blocked on the meta path and removed from sys.path; plain transformers loads the folder.
CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    class NoZhplm:
        def find_spec(self, name, path=None, target=None):
            if name == "zhplm" or name.startswith("zhplm."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
            return None

    sys.meta_path.insert(0, NoZhplm())
    sys.path[:] = [p for p in sys.path if not (Path(p or ".") / "zhplm").exists()]
    try:
        import zhplm  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("zhplm is importable in the child")

    import numpy as np
    import torch
    import transformers

    FEED_FOR

    folder, autos, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    texts = json.loads(sys.argv[4])
    tok = transformers.AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    enc = tok(texts, padding=True, return_tensors="pt")
    arrays = {f"input:{k}": v.numpy() for k, v in enc.items()}
    meta = {"tokenizer": type(tok).__module__ + "." + type(tok).__name__, "models": {}}
    for auto in autos:
        model = getattr(transformers, auto).from_pretrained(folder, trust_remote_code=True).eval()
        meta["models"][auto] = type(model).__module__ + "." + type(model).__name__
        with torch.no_grad():
            output = model(**feed_for(model, enc))
        for key, value in output.items():
            if isinstance(value, torch.Tensor):
                arrays[f"{auto}:{key}"] = value.numpy()
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(out, **arrays)
    """
).replace("FEED_FOR", textwrap.indent(inspect.getsource(feed_for), "").replace("Any", "object"))


def run_child(folder: Path, autos: list[str], tmp: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Run CHILD isolated (``-I``: no PYTHONPATH, no user site) with its own HF caches; its arrays + meta."""
    script, out = tmp / "child.py", tmp / "child.npz"
    script.write_text(CHILD, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HF_", "TRANSFORMERS"))}
    env |= {"HF_HOME": str(tmp / "hf"), "HF_MODULES_CACHE": str(tmp / "hf-modules"), "HF_HUB_OFFLINE": "1"}
    args = [sys.executable, "-I", str(script), str(folder), json.dumps(autos), str(out)]
    done = subprocess.run(
        [*args, json.dumps(TEXTS, ensure_ascii=False)], env=env, cwd=tmp, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-4000:]
    data = dict(np.load(out))
    meta = json.loads(bytes(data.pop("meta")).decode())
    return data, meta


# --------------------------------------------------------------------------- tiny folders


def write_vocab(path: Path, extra: list[str] = ()) -> Path:  # type: ignore[assignment]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(SPECIALS + CHARS + list(extra)) + "\n", encoding="utf-8")
    return path


def write_tokenizer(model_type: str, release: Path, folder: Path) -> None:
    """The tokenizer files the converter writes for ``model_type`` (ours where the type has its own)."""
    vocab = write_vocab(release / "vocab.txt")
    if model_type == "chinesebert":
        from zhplm.arch.tokenization.chinesebert import write_chinesebert_tokenizer

        letters = list("012345abcdefghijklmnopqrstuvwxyz")
        pinyin_map = {"idx2char": letters, "char2idx": {c: i for i, c in enumerate(letters)}}
        (release / "pinyin_map.json").write_text(json.dumps(pinyin_map), encoding="utf-8")
        (release / "pinyin2tensor.json").write_text(json.dumps({"zhong1": [9, 9, 9, 0, 0, 0, 0, 0]}))
        (release / "id2pinyin.json").write_text("{}", encoding="utf-8")
        write_chinesebert_tokenizer(vocab, folder)
    elif model_type == "zen":
        from zhplm.arch.tokenization.zen import write_zen_tokenizer

        (release / "ngram.txt").write_text("".join(f"{w},3\n" for w in LEXICON), encoding="utf-8")
        write_zen_tokenizer(vocab, release / "ngram.txt", folder)
    elif model_type == "lattice_bert":
        from zhplm.arch.tokenization.lattice import write_lattice_tokenizer

        (release / "lexicon.txt").write_text("\n".join(LEXICON) + "\n", encoding="utf-8")
        write_lattice_tokenizer(vocab, release / "lexicon.txt", folder)
    else:
        from zhplm.arch.tokenization.wordpiece import write_bert_tokenizer

        write_bert_tokenizer(vocab, folder)


def our_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    from zhplm.loader import register_tokenizers

    register_tokenizers()
    return AutoTokenizer.from_pretrained(str(folder))


def full_class(model_type: str) -> tuple[Any, Any]:
    """Our config class and the model class with every head (its checkpoint serves every Auto class)."""
    module_name, config_name, heads = MODELS[model_type]
    module = importlib.import_module(module_name)
    name = (
        heads.get("AutoModelForPreTraining")
        or heads.get("AutoModelForMaskedLM")
        or heads.get("AutoModelForCausalLM")
        or heads["AutoModel"]
    )
    return getattr(module, config_name), getattr(module, name)


def tiny_folder(model_type: str, tmp: Path) -> Path:
    assert model_type in TINY, f"add tiny sizes for the new model type {model_type!r} to TINY"
    folder = tmp / f"tiny-{model_type}"
    write_tokenizer(model_type, tmp / "release", folder)
    config_cls, model_cls = full_class(model_type)
    tok = our_tokenizer(folder)
    torch.manual_seed(0)
    model = model_cls(config_cls(vocab_size=max(len(tok), tok.vocab_size), **TINY[model_type])).eval()
    with torch.no_grad():  # every parameter random (zero biases and unit norms would hide mix-ups)
        for param in model.parameters():
            param.uniform_(-0.3, 0.3)
    model.save_pretrained(str(folder))
    return folder


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("model_type", sorted(MODELS))
def test_folder_loads_without_zhplm_and_gives_our_outputs(model_type: str, tmp_path: Path) -> None:
    check_travels(model_type, tmp_path)


# A throwaway architecture in shapes the real modules may take (GAU-α on RoFormerV2's classes): the config
# class subclasses one imported from another zhplm module and needs a module constant; a relative import;
# a zhplm import inside a function.
TOY = '''"""Toy: RoFormerV2 with its output scaled."""

from __future__ import annotations

from zhplm.arch.modeling.roformer_v2 import RoFormerV2Config, RoFormerV2Model

from ._layers import check_ids_or_embeds

SCALE = 3.0


class ToyConfig(RoFormerV2Config):
    model_type = "toy_rc"

    scale: float = SCALE


class ToyModel(RoFormerV2Model):
    config_class = ToyConfig

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, return_dict=None):
        from zhplm.errors import ConversionError

        if input_ids is None:
            raise ConversionError("toy: input_ids needed")
        check_ids_or_embeds(input_ids, None)
        out = super().forward(input_ids, attention_mask, token_type_ids, return_dict=True)
        out.last_hidden_state = out.last_hidden_state * self.config.scale
        return out if return_dict is not False else out.to_tuple()
'''


def test_an_architecture_built_on_another_travels_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zhplm.arch.modeling as modeling

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "toy_rc.py").write_text(TOY, encoding="utf-8")
    monkeypatch.setattr(modeling, "__path__", [*modeling.__path__, str(tmp_path / "pkg")])
    monkeypatch.setitem(
        MODELS, "toy_rc", ("zhplm.arch.modeling.toy_rc", "ToyConfig", {"AutoModel": "ToyModel"})
    )
    monkeypatch.setattr(zhplm.remote_code, "own_models", lambda: MODELS)
    monkeypatch.setitem(TINY, "toy_rc", BERT_SIZES)
    try:
        folder = check_travels("toy_rc", tmp_path)
    finally:
        sys.modules.pop("zhplm.arch.modeling.toy_rc", None)
    configuration = (folder / "configuration_toy_rc.py").read_text(encoding="utf-8")
    assert "SCALE = 3.0" in configuration and "from .zhplm_arch_modeling_roformer_v2 import" in configuration
    assert "RoFormerV2Model" not in configuration  # the cut-out imports only what the config class uses
    assert (folder / "zhplm_errors.py").is_file()  # reached through the import inside forward()


def check_travels(model_type: str, tmp_path: Path) -> Path:
    """Tiny folder → write_remote_code → the zhplm-less child loads every Auto class → same outputs."""
    folder = tiny_folder(model_type, tmp_path)
    notes = write_remote_code(folder)
    module_name, config_name, heads = MODELS[model_type]

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["auto_map"] == {
        "AutoConfig": f"configuration_{model_type}.{config_name}",
        **{auto: f"modeling_{model_type}.{cls}" for auto, cls in heads.items()},
    }
    for path in folder.glob("*.py"):  # transformers' own reading of the imports: none of zhplm
        assert path.read_text(encoding="utf-8").startswith(MARKER)
        assert "zhplm" not in get_imports(path), path.name
        assert all((folder / f"{m}.py").is_file() for m in get_relative_imports(path)), path.name
    assert any("remote code:" in n for n in notes)
    needs = " ".join(n for n in notes if n.startswith("remote code needs"))
    assert ("pypinyin" in needs) == (model_type == "chinesebert"), notes  # imported in a try: block

    autos = list(heads)
    child, meta = run_child(folder, autos, tmp_path)
    # the child's classes came from the folder's code (transformers_modules), not from zhplm
    for auto, cls in heads.items():
        assert meta["models"][auto].startswith("transformers_modules.")
        assert meta["models"][auto].endswith(f".modeling_{model_type}.{cls}")

    tok = our_tokenizer(folder)
    ours_enc = tok(TEXTS, padding=True, return_tensors="pt")
    child_enc = {k[6:]: torch.from_numpy(v) for k, v in child.items() if k.startswith("input:")}
    assert set(child_enc) == set(ours_enc)
    for key, value in ours_enc.items():
        assert torch.equal(child_enc[key], value), f"tokenizer output {key} differs"
    own_tok = type(tok).__module__.startswith("zhplm.")
    assert meta["tokenizer"].startswith("transformers_modules." if own_tok else "transformers.")

    module = importlib.import_module(module_name)
    compared = 0
    for auto, cls in heads.items():
        model = getattr(module, cls).from_pretrained(str(folder)).eval()
        with torch.no_grad():
            output = model(**feed_for(model, ours_enc))
        for key, value in output.items():
            if not isinstance(value, torch.Tensor):
                continue
            theirs = torch.from_numpy(child[f"{auto}:{key}"])
            assert theirs.shape == value.shape, f"{auto}.{key}"
            diff = float((theirs - value).abs().max())
            assert diff <= TOL, f"{auto}.{key}: max |child - ours| {diff:.3e}"
            compared += 1
    assert compared >= len(heads)
    return folder


def test_a_transformers_model_with_our_word_tokenizer_gets_only_the_tokenizer_code(tmp_path: Path) -> None:
    """WoBERT-like: BERT (transformers' own) + the jieba tokenizer (ours): only AutoTokenizer travels, and
    the jieba requirement is reported."""
    from transformers import BertConfig, BertModel

    from zhplm.arch.tokenization.word import write_word_tokenizer

    folder = tmp_path / "wobert"
    write_word_tokenizer(write_vocab(tmp_path / "release" / "vocab.txt", LEXICON), folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(SPECIALS + CHARS + LEXICON), **BERT_SIZES)).save_pretrained(
        str(folder)
    )
    before = (folder / "config.json").read_text(encoding="utf-8")

    notes = write_remote_code(folder)

    assert (folder / "config.json").read_text(encoding="utf-8") == before
    written = sorted(p.name for p in folder.glob("*.py"))
    assert "tokenization_word.py" in written
    assert not [n for n in written if n.startswith(("modeling_", "configuration_"))]
    tok_config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert tok_config["auto_map"] == {"AutoTokenizer": ["tokenization_word.JiebaWordPieceTokenizer", None]}
    assert any("jieba" in n for n in notes)
    child, meta = run_child(folder, ["AutoModel"], tmp_path)
    assert meta["tokenizer"].endswith("tokenization_word.JiebaWordPieceTokenizer")
    ours = our_tokenizer(folder)(TEXTS, padding=True, return_tensors="pt")
    assert torch.equal(torch.from_numpy(child["input:input_ids"]), ours["input_ids"])
    assert any(len(t) > 1 for t in our_tokenizer(folder).tokenize(TEXTS[1]))  # jieba words, not characters


def test_a_transformers_folder_is_left_alone(tmp_path: Path) -> None:
    from transformers import BertConfig

    BertConfig(**BERT_SIZES).save_pretrained(str(tmp_path))
    before = (tmp_path / "config.json").read_text(encoding="utf-8")
    notes = write_remote_code(tmp_path)
    assert "none needed" in notes[0]
    assert (tmp_path / "config.json").read_text(encoding="utf-8") == before
    assert not list(tmp_path.glob("*.py"))


def test_someone_elses_code_file_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "nezha"}), encoding="utf-8")
    (tmp_path / "modeling_nezha.py").write_text("# my own\n", encoding="utf-8")
    with pytest.raises(ConversionError, match="not written by zhplm"):
        write_remote_code(tmp_path)
    assert (tmp_path / "modeling_nezha.py").read_text(encoding="utf-8") == "# my own\n"
    assert "auto_map" not in json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))


def test_export_twice_is_stable_and_drops_stale_files(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "roformer_v2"}), encoding="utf-8")
    write_remote_code(tmp_path)
    first = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.glob("*.py")}
    (tmp_path / "zhplm_gone.py").write_text(f"{MARKER} zhplm.gone\n", encoding="utf-8")
    config = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    config["auto_map"] |= {"AutoModelForPreTraining": "modeling_roformer_v2.Gone", "AutoModelForX": "mine.X"}
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")

    write_remote_code(tmp_path)

    assert {p.name: p.read_text(encoding="utf-8") for p in tmp_path.glob("*.py")} == first
    auto_map = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))["auto_map"]
    assert "AutoModelForPreTraining" not in auto_map  # ours, gone from zhplm
    assert auto_map["AutoModelForX"] == "mine.X"  # someone else's, kept


@pytest.mark.parametrize(
    ("content", "match"),
    [(None, "is missing"), ("{not json", "could not be read"), ("[1, 2]", "not a JSON object")],
)
def test_bad_config_json_is_a_clear_error(tmp_path: Path, content: str | None, match: str) -> None:
    if content is not None:
        (tmp_path / "config.json").write_text(content, encoding="utf-8")
    with pytest.raises(ConversionError, match=match):
        write_remote_code(tmp_path)


def test_architectures_that_are_not_ours_are_refused(tmp_path: Path) -> None:
    config = {"model_type": "nezha", "architectures": ["NezhaForQuestionAnswering"]}
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ConversionError, match="NezhaForQuestionAnswering"):
        write_remote_code(tmp_path)
    assert not list(tmp_path.glob("*.py"))


def test_cli_export_remote_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from zhplm.cli.main import main

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gau_alpha"}), encoding="utf-8")
    assert main(["export-remote-code", str(tmp_path), "--json"]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert "modeling_gau_alpha.py" in notes[0] and (tmp_path / "modeling_gau_alpha.py").is_file()
    assert main(["export-remote-code", str(tmp_path / "nowhere")]) != 0
    assert "config.json is missing" in capsys.readouterr().err


@pytest.mark.parametrize(
    "line", ["from zhplm.arch.modeling import _layers", "import zhplm.arch.modeling._layers"]
)
def test_an_import_that_cannot_be_flattened_is_named(
    line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zhplm.arch.modeling as modeling

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "toy_bad.py").write_text(f"{line}\n\n\nclass C:\n    pass\n", encoding="utf-8")
    monkeypatch.setattr(modeling, "__path__", [*modeling.__path__, str(tmp_path / "pkg")])
    monkeypatch.setitem(MODELS, "toy_bad", ("zhplm.arch.modeling.toy_bad", "C", {"AutoModel": "C"}))
    monkeypatch.setattr(zhplm.remote_code, "own_models", lambda: MODELS)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "toy_bad"}), encoding="utf-8")
    with pytest.raises(ConversionError, match=r"toy_bad\.py:1: .*cannot be flattened"):
        write_remote_code(tmp_path)
    assert not list(tmp_path.glob("*.py"))


def test_convert_with_remote_code_travels(tmp_path: Path) -> None:
    """`zhplm.convert(..., remote_code=True)` on a NEZHA release in its original PyTorch naming (a
    pytorch_model.bin with bert.* names and the original bert_config.json): the converted folder loads in a
    process that cannot import zhplm, with the outputs of our own classes."""
    import zhplm
    from zhplm.arch.modeling.configuration_nezha import NezhaConfig
    from zhplm.arch.modeling.nezha import NezhaForPreTraining

    release = tmp_path / "release"
    release.mkdir()
    config = {"vocab_size": len(SPECIALS + CHARS), "max_relative_position": 3, "use_relative_position": True,
              "type_vocab_size": 2, "max_position_embeddings": 64, **BERT_SIZES}  # fmt: skip
    torch.manual_seed(1)
    model = NezhaForPreTraining(NezhaConfig(**config)).eval()
    state = {k: v for k, v in model.state_dict().items() if k != "cls.predictions.decoder.weight"}
    torch.save(state, release / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    (release / "bert_config.json").write_text(json.dumps(config), encoding="utf-8")
    write_vocab(release / "vocab.txt", [])
    out = tmp_path / "converted"
    result = zhplm.convert(release, out, arch="nezha", remote_code=True)
    assert result.architectures == ["NezhaForPreTraining"]
    assert any("remote code:" in n for n in result.notes)
    saved = json.loads((out / "zhplm.json").read_text(encoding="utf-8"))
    assert any("remote code:" in n for n in saved["notes"])

    child, meta = run_child(out, ["AutoModelForMaskedLM"], tmp_path)
    assert meta["models"]["AutoModelForMaskedLM"].endswith(".modeling_nezha.NezhaForMaskedLM")
    enc = our_tokenizer(out)(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).prediction_logits
    diff = float((torch.from_numpy(child["AutoModelForMaskedLM:logits"]) - logits).abs().max())
    assert diff <= 1e-5, diff


ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets"
TOKENIZER_CHILD = """
import json, sys
from transformers import AutoTokenizer
folder, saved, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
tok.save_pretrained(saved)
print(json.dumps({"module": type(tok).__module__, "ids": [tok(t)["input_ids"] for t in texts]}))
"""


@pytest.mark.parametrize(
    ("name", "release_file", "saved_name"),
    [
        ("cog", "THUDM+CogView/pretrained/chinese_sentencepiece/cog-pretrain.model", "cog-pretrain.model"),
        ("rwkv1", "BlinkDL+AI-Writer/model/wangwen-2022-02-15.json", "char_table.json"),
    ],
)
def test_a_tokenizer_saving_its_release_file_travels_with_the_shared_vocab_helper(
    name: str, release_file: str, saved_name: str, tmp_path: Path
) -> None:
    """Tokenizers whose vocabulary is the release's own file save it through ``tokenization/_vocab.py``: the
    exported folder carries that module, and the child (no zhplm) tokenizes as we do and saves the same file."""
    from transformers import GPT2Config

    release = ASSETS / release_file
    if not release.is_file():
        pytest.skip(f"{release} is not in the shared assets")
    writer = importlib.import_module(f"zhplm.arch.tokenization.{name}")
    folder = tmp_path / name
    getattr(writer, f"write_{name}_tokenizer")(release, folder)
    GPT2Config(vocab_size=8, n_embd=8, n_layer=1, n_head=1).save_pretrained(str(folder))
    write_remote_code(folder)
    assert (folder / "zhplm_arch_tokenization_vocab.py").is_file()
    script = tmp_path / "child.py"
    script.write_text(TOKENIZER_CHILD, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HF_", "TRANSFORMERS"))}
    env |= {
        "HF_HOME": str(tmp_path / "hf"),
        "HF_MODULES_CACHE": str(tmp_path / "hf-modules"),
        "HF_HUB_OFFLINE": "1",
    }
    texts = ["今天天气很好", "北京是中国的首都。"]
    args = [sys.executable, "-I", str(script), str(folder), str(tmp_path / "saved"), json.dumps(texts)]
    done = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    child = json.loads(done.stdout.strip().splitlines()[-1])
    assert child["module"].startswith("transformers_modules.")
    assert child["ids"] == [our_tokenizer(folder)(t)["input_ids"] for t in texts]
    assert (tmp_path / "saved" / saved_name).read_bytes() == release.read_bytes()
