"""Real English text available offline, and the byte-level tokenizer the zoo models read it with.

The zoo's bases must be *trained*, not random: a detector that only separates random inits proves
little. Python's own standard-library docstrings are real technical English, always installed, and
identical for a given Python build, so training data needs no network and no shipped corpus.
Two disjoint module sets give two corpora: "pretrain" for bases, "finetune" for derivatives trained
"on different text".
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: Bytes 0..255 are tokens 0..255; these follow. Vocabulary extensions append after them.
SPECIAL_TOKENS = ("<bos>", "<eos>", "<pad>", "<unk>")
BASE_VOCAB = 256 + len(SPECIAL_TOKENS)
BOS_ID, EOS_ID = 256, 257

CORPUS_MODULES = {
    "pretrain": (
        "argparse", "collections", "contextlib", "csv", "dataclasses", "datetime", "difflib", "enum",
        "functools", "heapq", "itertools", "json", "logging", "pathlib", "pprint", "random", "re",
        "shutil", "statistics", "string", "tarfile", "textwrap", "threading", "zipfile",
    ),
    "finetune": (
        "asyncio", "base64", "calendar", "configparser", "decimal", "email.message", "fractions",
        "gettext", "http.client", "imaplib", "ipaddress", "locale", "mailbox", "optparse", "pickletools",
        "queue", "sched", "smtplib", "socketserver", "sqlite3", "subprocess", "tempfile", "unittest",
        "urllib.parse", "uuid", "wave",
    ),
}


@lru_cache(maxsize=None)
def corpus_text(name: str) -> str:
    """Docstrings of the corpus' modules and their public members, in a fixed order."""
    parts: list[str] = []
    for module_name in CORPUS_MODULES[name]:
        module = importlib.import_module(module_name)
        docs = [inspect.getdoc(module)]
        for attr in sorted(vars(module)):
            obj = getattr(module, attr)
            if attr.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            docs.append(inspect.getdoc(obj))
            if inspect.isclass(obj):
                docs.extend(inspect.getdoc(v) for k, v in sorted(vars(obj).items()) if not k.startswith("_"))
        parts.extend(d for d in docs if d and len(d) > 40)
    return "\n\n".join(parts)


def corpus_digest(name: str) -> str:
    """Part of every zoo cache key: another Python build means other docstrings, hence other weights."""
    return hashlib.sha256(corpus_text(name).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class ByteTokenizer:
    """Bytes as tokens, plus `merges`: extra tokens for frequent byte pairs (a vocabulary extension)."""

    merges: tuple[bytes, ...] = ()

    @property
    def vocab_size(self) -> int:
        return BASE_VOCAB + len(self.merges)

    def encode(self, text: str) -> np.ndarray:
        data = text.encode("utf-8")
        ids = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
        if not self.merges:
            return ids
        lookup = {pair: BASE_VOCAB + i for i, pair in enumerate(self.merges)}
        out: list[int] = []
        i = 0
        while i < len(data):
            token = lookup.get(data[i : i + 2])
            if token is not None:
                out.append(token)
                i += 2
            else:
                out.append(data[i])
                i += 1
        return np.asarray(out, dtype=np.int64)

    def token_strings(self) -> list[str]:
        """One printable string per id, for a tokenizer file aligners can match on."""
        names = [f"<0x{b:02X}>" for b in range(256)] + list(SPECIAL_TOKENS)
        return names + [m.decode("latin-1") for m in self.merges]


def frequent_pairs(text: str, count: int) -> tuple[bytes, ...]:
    """The `count` most frequent adjacent byte pairs (ties broken by value): new tokens to add."""
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
    codes = data[:-1] * 256 + data[1:]
    freq = np.bincount(codes, minlength=65536)
    order = np.lexsort((np.arange(65536), -freq))[:count]
    return tuple(bytes([c // 256, c % 256]) for c in order)


def batches(ids: np.ndarray, *, seq_len: int, batch_size: int, steps: int, seed: int):
    """`steps` batches of random windows (order fixed by `seed`): inputs and next-token targets."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        starts = rng.integers(0, len(ids) - seq_len - 1, size=batch_size)
        window = np.stack([ids[s : s + seq_len + 1] for s in starts])
        yield window[:, :-1], window[:, 1:]
