"""The ORIGINAL side of bench/bench_multimodal.py and bench/bench_clip.py: runs in ``.venv-ref``, one process
per model, kept alive between rounds so that the parent can alternate it with zhplm's process.

    .venv-ref/bin/python bench/mm_original_worker.py r2d2   RELEASE_DIR SPEC.json THREADS
    .venv-ref/bin/python bench/mm_original_worker.py oscar  RELEASE_DIR SPEC.json THREADS
    .venv-ref/bin/python bench/mm_original_worker.py cnclip RELEASE_DIR SPEC.json THREADS

* ``r2d2``: R2D2's own ``models/r2d2.py::R2D2`` (ViT-B/16 config files of the snapshot, built and loaded by
  its ``r2d2(pretrained=...)``, as tests/oracles/r2d2_original.py does), the demo's ``preprocess`` and
  ``tokenize_text`` (padding to 64), ``encode_image`` / ``encode_text``; the ranking stage is the body of
  ``r2d2_inference_demo.evaluation`` (the two cross-encoders and ITM heads, score = mean of the heads'
  ``softmax[1]``) applied to the top-k of the cosine ranking, with the towers' states reused as R2D2's
  retrieval evaluation does; final score ``itm + cosine``.
* ``oscar``: Oscar's ``BertImgModel`` (inside ``ImageBertForSequenceClassification``, tests/oracles/
  oscar_original.py with its named shims), transformers 4.46's ``BertTokenizer`` on the release vocabulary
  (Oscar's own tokenizer is that class of its pytorch-transformers fork), inputs laid out as Oscar's
  ``tensorize_example`` (``[CLS] text [SEP]``, regions after the text, masks).
* ``cnclip``: cn_clip's own ``CLIP`` loaded from the release ``.pt`` as its ``create_model`` does
  (tests/oracles/cnclip_original.py), its ``image_transform`` (torchvision primitives stubbed with the same
  Pillow calls, tests/oracles/_torchvision_stub.py), ``clip.tokenize`` (52 ids), ``encode_image`` /
  ``encode_text``, features L2-normalised (as zhplm returns them).

Protocol: bench/worker_protocol.py (``READY``, then ``round`` / ``save PATH`` lines), shared with zhplm's side.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "oracles"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from worker_protocol import serve, timed  # noqa: E402  (the protocol both sides speak)


def r2d2_worker(release: Path, spec: dict[str, Any], work: Path) -> Any:
    import r2d2_original as R  # installs the torchvision stub (named in that file)
    from PIL import Image

    R._checkout(work, shrink=False)
    with R.C.stdout_to_stderr():
        model = R._model(work, str(release / R.RELEASE), full=True).eval()
    import r2d2_inference_demo as demo

    size = R.FULL_SIZE

    def pixels(paths: list[str]) -> torch.Tensor:
        return torch.stack([demo.preprocess(Image.open(p).convert("RGB"), size) for p in paths])

    def cross(text_states: Any, text_mask: Any, image_states: Any) -> torch.Tensor:
        """``r2d2_inference_demo.evaluation``'s cross-encoder part, on given rows."""
        encoder_att = torch.ones(image_states.size()[:-1], dtype=torch.long)
        text_output = model.text_joint_layer(
            encoder_embeds=text_states,
            attention_mask=text_mask,
            encoder_hidden_states=image_states,
            encoder_attention_mask=encoder_att,
            return_dict=True,
        )
        image_output = model.img_joint_layer(
            encoder_embeds=model.img_joint_proj(image_states),
            attention_mask=encoder_att,
            encoder_hidden_states=text_states,
            encoder_attention_mask=text_mask,
        )
        score = torch.softmax(model.itm_head(text_output.last_hidden_state[:, 0, :]), dim=-1)[:, 1]
        score = (
            score + torch.softmax(model.itm_head_i(image_output.last_hidden_state[:, 0, :]), dim=-1)[:, 1]
        ) / 2
        return score

    def rank(cosine: torch.Tensor, k: int, itm: Any) -> tuple[np.ndarray, np.ndarray]:
        top = torch.topk(cosine, k).indices
        final = cosine[top] + itm(top)
        order = torch.argsort(final, descending=True, stable=True)
        return top[order].numpy(), final[order].numpy()

    def image_to_text() -> tuple[np.ndarray, np.ndarray]:
        tok = model.tokenize_text(spec["texts"])
        t_states, t_emb = model.encode_text(tok)
        i_states, i_emb = model.encode_image(pixels([spec["query_image"]]))
        return rank(
            t_emb @ i_emb[0],
            spec["k_texts"],
            lambda top: cross(t_states[top], tok.attention_mask[top], i_states.repeat(len(top), 1, 1)),
        )

    def text_to_image() -> tuple[np.ndarray, np.ndarray]:
        i_states, i_emb = model.encode_image(pixels(spec["images"]))
        tok = model.tokenize_text([spec["query_text"]])
        q_states, q_emb = model.encode_text(tok)
        return rank(
            i_emb @ q_emb[0],
            spec["k_images"],
            lambda top: cross(
                q_states.repeat(len(top), 1, 1), tok.attention_mask.repeat(len(top), 1), i_states[top]
            ),
        )

    def one_round() -> tuple[dict[str, float], dict[str, np.ndarray]]:
        with torch.no_grad():
            t_img, (_, img) = timed(lambda: model.encode_image(pixels(spec["images"])))
            t_txt, (_, txt) = timed(lambda: model.encode_text(model.tokenize_text(spec["texts"])))
            t_i2t, i2t = timed(image_to_text)
            t_t2i, t2i = timed(text_to_image)
        times = {"images": t_img, "texts": t_txt, "i2t": t_i2t, "t2i": t_t2i}
        outputs = {
            "image_embeds": img.numpy(),
            "text_embeds": txt.numpy(),
            "i2t_order": i2t[0],
            "i2t_score": i2t[1],
            "t2i_order": t2i[0],
            "t2i_score": t2i[1],
        }
        return times, outputs

    return one_round


def oscar_worker(release: Path, spec: dict[str, Any], work: Path) -> Any:
    import oscar_original as O
    import transformers

    ob = O._oscar(work)
    config = transformers.BertConfig(**json.loads((release / "config.json").read_text(encoding="utf-8")))
    model = O._class(ob, "retrieval")(config)
    missing, unexpected = model.load_state_dict(
        torch.load(release / "pytorch_model.bin", weights_only=True), strict=False
    )
    assert not missing and not unexpected, (missing, unexpected)
    model.eval()
    tokenizer = transformers.BertTokenizer(str(release / "vocab.txt"), do_lower_case=True)
    regions = np.load(spec["regions"])  # [pairs, regions, 2054]

    def encode() -> dict[str, torch.Tensor]:
        enc = tokenizer(
            spec["texts"], padding=True, truncation=True, max_length=spec["max_length"], return_tensors="pt"
        )
        n = regions.shape[1]
        mask = torch.cat([enc["attention_mask"], torch.ones(len(spec["texts"]), n, dtype=torch.long)], dim=1)
        return {
            "input_ids": enc["input_ids"],
            "token_type_ids": enc["token_type_ids"],
            "attention_mask": mask,
            "img_feats": torch.from_numpy(regions),
        }

    fixed = encode()

    def one_round() -> tuple[dict[str, float], dict[str, np.ndarray]]:
        with torch.no_grad():
            t_e2e, out = timed(lambda: model.bert(**encode())[:2])
            t_model, _ = timed(lambda: model.bert(**fixed)[:2])
        return {"e2e": t_e2e, "model": t_model}, {"pooled": out[1].numpy(), "states": out[0].numpy()}

    return one_round


def cnclip_worker(release: Path, spec: dict[str, Any], work: Path) -> Any:
    import cnclip_original as C  # installs the torchvision stub before cn_clip is imported
    from PIL import Image

    clip, model = C._load(release)  # cn_clip's CLIP, loaded strictly as its create_model does
    transform = clip.image_transform(model.visual.input_resolution)

    def pixels() -> torch.Tensor:
        return torch.stack([transform(Image.open(p)) for p in spec["images"]])

    def normalized(x: torch.Tensor) -> torch.Tensor:
        return x / x.norm(dim=-1, keepdim=True)

    fixed = pixels()

    def one_round() -> tuple[dict[str, float], dict[str, np.ndarray]]:
        with torch.inference_mode():
            t_img, img = timed(lambda: normalized(model.encode_image(pixels())))
            t_model, _ = timed(lambda: normalized(model.encode_image(fixed)))
            t_txt, txt = timed(lambda: normalized(model.encode_text(clip.tokenize(spec["texts"]))))
        times = {"images": t_img, "images_model": t_model, "texts": t_txt}
        return times, {"image_embeds": img.numpy(), "text_embeds": txt.numpy()}

    return one_round


def main() -> None:
    kind, release, spec_file, threads = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        serve(
            {"r2d2": r2d2_worker, "oscar": oscar_worker, "cnclip": cnclip_worker}[kind](
                release, spec, Path(tmp)
            )
        )


if __name__ == "__main__":
    main()
