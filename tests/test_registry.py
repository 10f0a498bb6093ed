"""The architecture registry: every module under zhplm.arch is found by name, declares everything on its SPEC,
and a new architecture is one module — nothing else to edit.

Parametrised over the registry itself, so an architecture added later is checked without new test code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

import zhplm.arch
import zhplm.catalog.archs as vocabulary
from zhplm.arch import arch_names, get_arch, rank_archs, score
from zhplm.arch.modeling import model_class
from zhplm.errors import ConversionError, MappingError

TESTS = Path(__file__).parent
ROOT = TESTS.parent
ARCHS = arch_names()
PARITY_TESTS = "\n".join(p.read_text(encoding="utf-8") for p in sorted(TESTS.glob("test_parity_*.py")))


def test_every_public_module_is_an_architecture() -> None:
    modules = sorted(p.stem for p in (ROOT / "src/zhplm/arch").glob("*.py") if not p.stem.startswith("_"))
    assert modules == ARCHS
    assert {"bert", "nezha", "electra", "electra_generator", "lattice_bert"} <= set(ARCHS)


@pytest.mark.parametrize("name", ARCHS)
def test_spec_declares_its_architecture(name: str) -> None:
    spec = get_arch(name)
    assert spec.name == name
    assert spec.description and vocabulary.describe(name) == spec.description
    assert name in vocabulary.arch_names() and name not in vocabulary.PLANNED, "delete its PLANNED line"
    assert spec.schemes, "an architecture needs at least one naming scheme"
    for key, rules in spec.schemes.items():
        table = rules.render()
        for rule in rules.rules:
            re.compile(rule.source)  # every source pattern is a valid regex
            assert rule.source in table and rule.target.split("{")[0] in table, (key, rule.source)
    for pattern in (*spec.evidence.distinctive, *spec.evidence.forbidden):
        re.compile(pattern)
    for tokenizer in spec.tokenizers:
        module = __import__(tokenizer, fromlist=["register"])
        assert callable(module.register)


@pytest.mark.parametrize("name", ARCHS)
def test_target_class_builds_on_the_meta_device(name: str) -> None:
    """The folder's class (every head) builds from its model type's defaults, and every declared head and
    folder class is a real class whose parameters the heads' patterns can own."""
    spec = get_arch(name)
    config = transformers.AutoConfig.for_model(spec.model_type)  # full size: the meta device holds no data
    cls = getattr(transformers, spec.full_class, None) or model_class(spec.full_class)
    assert cls is not None, spec.full_class
    with torch.device("meta"):
        model = cls(config)
    params = [n for n, _ in model.named_parameters()] + list(getattr(model, "_tied_weights_keys", None) or {})
    for head in spec.heads:
        assert any(head.owns(p) for p in params), (
            f"{name}: head {head.name} owns no parameter of {cls.__name__}"
        )
    for _, folder_class in spec.classes:
        assert getattr(transformers, folder_class, None) or model_class(folder_class), folder_class


@pytest.mark.parametrize("name", ARCHS)
def test_a_parity_test_names_it(name: str) -> None:
    assert re.search(rf"""["']{name}["']|test_parity_{name}\b|arch\.{name}\b""", PARITY_TESTS), (
        f"no tests/test_parity_*.py names {name!r}: an architecture is verified against an independent implementation"
    )


@pytest.mark.parametrize("name", [n for n in ARCHS if get_arch(n).own_model is not None])
def test_own_models_are_complete(name: str) -> None:
    own = get_arch(name).own_model
    assert own is not None
    config_module = __import__(own.config_module, fromlist=[own.config_class])
    assert getattr(config_module, own.config_class).model_type == get_arch(name).model_type
    assert get_arch(name).full_class in own.classes
    for _, cls in get_arch(name).classes:
        assert cls in own.classes, f"{cls} is a folder class but not registered with an Auto class"


# --------------------------------------------------------------------------- one detector


def test_unknown_arch_lists_the_known_ones() -> None:
    with pytest.raises(ConversionError, match="available: albert"):
        get_arch("no_such_arch")


def test_evidence_is_scored_in_one_place() -> None:
    """Distinctive names decide, forbidden ones halve, a config names NEZHA over RoFormer's reading."""
    bert4keras = ["bert/embeddings/word_embeddings", "bert/encoder/layer_0/attention/self/query/kernel"]
    bert4keras += ["bert/encoder/layer_0/attention/self/query/bias"]
    assert score(get_arch("nezha"), bert4keras, {"use_relative_position": True}) > score(
        get_arch("roformer"), bert4keras, {"use_relative_position": True}
    )
    assert score(get_arch("nezha"), bert4keras) < score(get_arch("roformer"), bert4keras)
    assert score(get_arch("nezha"), [*bert4keras, "bert/embeddings/position_embeddings"]) < 0.6
    assert score(get_arch("lattice_bert"), bert4keras) == 0.0
    # optimizer slots never count as evidence
    assert score(get_arch("roformer_v2"), ["bert/encoder/layer_0/attention/self/query/kernel",
                                          "bert/encoder/layer_0/output/LayerNorm/gamma/adam_m"]) > 1.0  # fmt: skip


def test_a_transform_that_does_not_fit_is_a_mapping_error() -> None:
    """A plan whose transform cannot take a tensor's shape raises MappingError (a ConversionError), so the
    detector moves on to the next candidate instead of stopping on a ValueError."""
    rules = get_arch("bert").schemes["google-tf1"]
    shapes = {"bert/encoder/layer_0/attention/self/query/kernel": (2, 3, 4)}  # 3-D: cannot be transposed
    with pytest.raises(MappingError, match="transpose"):
        rules.plan(shapes, dict.fromkeys(shapes, "float32"))


def test_layer_counts_are_bounded_by_the_tensors_present(tmp_path: Path) -> None:
    """A tiny checkpoint naming layer 10,000,000 is refused at planning time instead of building a
    10-million-layer model (issue 10, item 2)."""
    from safetensors.numpy import save_file

    hostile = {
        "bert.embeddings.word_embeddings.weight": np.zeros((8, 4), np.float32),
        "bert.encoder.layer.9999999.attention.self.query.weight": np.zeros((4, 4), np.float32),
    }
    save_file(hostile, str(tmp_path / "model.safetensors"))
    proc = subprocess.run(
        [sys.executable, "-m", "zhplm", "convert", str(tmp_path / "model.safetensors"), "--arch", "bert", "--dry-run"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "layers than the checkpoint holds" in proc.stderr, proc.stderr[-2000:]


def test_shared_layers_unroll_only_a_sane_number_of_times() -> None:
    rules = get_arch("albert_brightmart").schemes["brightmart-tf1"]
    shapes = {"bert/encoder/layer_shared/attention/self/query/kernel": (4, 4)}
    with pytest.raises(MappingError, match="unroll"):
        rules.plan(shapes, dict.fromkeys(shapes, "float32"), {"num_hidden_layers": 10_000_000})


# --------------------------------------------------------------------------- a new architecture = one module

TOY = '''
"""A throwaway architecture for the registry test: BERT weights under a ``toybert.`` scope."""

from zhplm.arch._rules import Rule, Rules
from zhplm.arch._spec import Evidence
from zhplm.arch.bert import BERT_CLASSES, HEADS, BertSpec

SPEC = BertSpec(
    name="toy_bert",
    description="Toy BERT: BERT under a toybert. scope (registry test)",
    model_type="bert",
    full_class="BertForPreTraining",
    schemes={"toy": Rules(Rule(r"toybert\\.(.*)", r"bert.\\1"), Rule(r"toyhead\\.(.*)", r"cls.\\1"), name="toy")},
    heads=HEADS,
    classes=BERT_CLASSES,
    evidence=Evidence(distinctive=(r"toybert\\..*",), without_distinctive=0.0),
)
'''


def _toy_checkpoint(path: Path) -> None:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    cfg = transformers.BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=16, max_position_embeddings=16)  # fmt: skip
    model = transformers.BertModel(cfg, add_pooling_layer=True)
    tensors = {f"toybert.{k}": rng.standard_normal(tuple(v.shape)).astype(np.float32)
               for k, v in model.state_dict().items() if "position_ids" not in k}  # fmt: skip
    save_file(tensors, str(path))


def test_a_new_architecture_is_one_module(tmp_path: Path) -> None:
    """One module on ZHPLM_ARCH_PATH, nothing else edited: `zhplm catalog archs` lists it, `convert --dry-run`
    plans with it, and `inspect` reports it (the same detector)."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "toy_bert.py").write_text(textwrap.dedent(TOY), encoding="utf-8")
    ckpt = tmp_path / "toy.safetensors"
    _toy_checkpoint(ckpt)
    env = {**os.environ, "ZHPLM_ARCH_PATH": str(plugins), "PYTHONPATH": str(ROOT / "src")}

    def zhplm(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "zhplm", *args], capture_output=True, text=True, env=env,
                              timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout

    listed = json.loads(zhplm("catalog", "archs", "--json"))
    assert {
        "arch": "toy_bert",
        "description": "Toy BERT: BERT under a toybert. scope (registry test)",
        "models": 0,
    } in listed
    plan = zhplm("convert", str(ckpt), "--out", str(tmp_path / "out"), "--dry-run")
    assert "toy_bert" in plan and "toybert.encoder.layer.1.output.dense.weight" in plan
    assert "bert.encoder.layer.1.output.dense.weight" in plan
    report = json.loads(zhplm("inspect", str(ckpt), "--json"))
    assert report["guess"]["archs"][0] == "toy_bert"
    assert (report["guess"]["layers"], report["guess"]["hidden"], report["guess"]["vocab"]) == (2, 8, 30)


def test_inspect_and_convert_agree_on_lattice_bert_names() -> None:
    """The disagreement that motivated one detector: Lattice-BERT's TF1 names (BERT's plus its own tables)
    were 'nezha, roformer' to inspect and lattice_bert to convert."""
    from zhplm.formats.inspect import _apply_detection, fingerprint

    names = {
        "bert/embeddings/word_embeddings": (40, 8),
        "bert/encoder/start_position_embeddings": (16, 8),
        "bert/encoder/relative_att_reset_theta_1": (2, 8),
    }
    ranked = [s.name for s, _ in rank_archs(names)]
    assert ranked and ranked[0] == "lattice_bert"
    guess = fingerprint(names)

    class Reader:
        def keys(self) -> list[str]:
            return list(names)

        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter(names)

        def shape(self, n: str) -> tuple[int, ...]:
            return names[n]

        def dtype(self, n: str) -> np.dtype:  # type: ignore[type-arg]
            return np.dtype("float32")

    _apply_detection(guess, Reader(), Path("/nonexistent"))
    # too few tensors to build a model: inspect names the architecture and says why it would not convert
    assert guess.archs[0] == "lattice_bert"
    assert any("would not convert" in n for n in guess.notes)


def test_registry_is_light() -> None:
    """Reading architecture names imports no numpy/torch (the catalog validates rows with them)."""
    code = "import sys, zhplm.arch as a; a.arch_names(); print(sorted(m for m in ('numpy','torch','transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")}).stdout  # fmt: skip
    assert out.strip() == "[]"
    assert zhplm.arch.__name__ == "zhplm.arch"


def test_plain_import_zhplm_is_enough_for_the_auto_classes(tmp_path: Path) -> None:
    """A converted folder of our own architecture (NEZHA) with our own tokenizer class (jieba words) loads
    with transformers' Auto classes after `import zhplm` alone — no register call."""
    from zhplm.arch.modeling.configuration_nezha import NezhaConfig
    from zhplm.arch.modeling.nezha import NezhaForMaskedLM
    from zhplm.arch.tokenization.word import write_word_tokenizer

    folder = tmp_path / "nezha"
    config = NezhaConfig(vocab_size=40, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=16, max_relative_position=4)  # fmt: skip
    torch.manual_seed(0)
    NezhaForMaskedLM(config).save_pretrained(folder)
    vocab = tmp_path / "vocab.txt"
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "中国", "我们", *"中国我们人民天气很好今日"]
    vocab.write_text("\n".join(words + [f"##{i}" for i in range(40 - len(words))]) + "\n", encoding="utf-8")
    write_word_tokenizer(vocab, folder)
    code = textwrap.dedent(f"""
        import sys
        import zhplm
        assert "transformers" not in sys.modules and "torch" not in sys.modules
        import transformers
        model = transformers.AutoModelForMaskedLM.from_pretrained({str(folder)!r})
        tok = transformers.AutoTokenizer.from_pretrained({str(folder)!r})
        print(type(model).__name__, type(tok).__name__, tok.tokenize("我们中国人民"))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[:2] == ["NezhaForMaskedLM", "JiebaWordPieceTokenizer"]
    assert "'我们'" in proc.stdout and "'中国'" in proc.stdout


def test_hook_registers_when_transformers_was_imported_first() -> None:
    code = (
        "import transformers; transformers.AutoConfig; import zhplm; "
        "print(type(transformers.AutoConfig.for_model('gau_alpha')).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})  # fmt: skip
    assert out.stdout.strip() == "GAUAlphaConfig", out.stderr[-2000:]
