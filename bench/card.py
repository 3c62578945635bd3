"""What reading a model card costs as it grows: the card, card-content, links and licence collectors on
generated cards of two sizes, per KB, against a baseline measured in the same run (splitting the text
into lines and matching one regex per line: what no card reader can avoid).

A linear reader costs the same per KB at both sizes; the old reader sliced its heading list per heading
(a 3.8 MB README took over 60 s).

Usage: python bench/card.py [--sizes 1,3.9] [--repeat 3]     (sizes in MB)
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from timing import median_seconds  # noqa: E402

BLOCK = """\
## Section {n}
### Training data {n}
We trained on [dataset {n}](https://huggingface.co/datasets/org/data-{n}) and code at https://github.com/org/repo-{n}.
| n_layers | {n} |
| d_model | 4096 |
Trained on {n} A100 GPUs for about 3 hours. See the [paper](https://arxiv.org/abs/2401.{m:05d}).
```python
model = AutoModel.from_pretrained("org/model")  # a code block with a # comment
```
"""


def card(megabytes: float) -> str:
    parts, size, n = ["---\nlicense: apache-2.0\n---\n# Model\n"], 0, 0
    while size < megabytes * 1_000_000:
        block = BLOCK.format(n=n, m=n % 100_000)
        parts.append(block)
        size += len(block)
        n += 1
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,3.9", help="card sizes in MB, comma-separated (cards over 4 MB are not read)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from openscore.evidence.card import collect_card
    from openscore.evidence.card_content import collect_card_content
    from openscore.evidence.context import CollectContext
    from openscore.evidence.licence_files import collect_licence_files
    from openscore.evidence.links import collect_links
    from openscore.sources import open_source

    line_regex = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
    print("size      card readers          baseline (split + 1 regex/line)   ratio")
    for mb in (float(s) for s in args.sizes.split(",")):
        text = card(mb)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "README.md").write_text(text, encoding="utf-8")
            source = open_source(tmp)
            inventory = source.inventory()

            def readers() -> None:
                ctx = CollectContext(source=source, inventory=inventory)
                collect_card(ctx)
                collect_card_content(ctx)
                collect_links(ctx)
                collect_licence_files(ctx)

            def baseline() -> None:
                for line in source.read_text("README.md", max_bytes=len(text) * 2).split("\n"):
                    line_regex.match(line)

            t, b = median_seconds(readers, args.repeat), median_seconds(baseline, args.repeat)
        kb = len(text) / 1000
        print(f"{len(text) / 1e6:4.1f} MB  {t:6.2f} s = {1000 * t / kb:5.2f} ms/KB   "
              f"{b:6.3f} s = {1000 * b / kb:5.3f} ms/KB                {t / b:5.1f}x")


if __name__ == "__main__":
    main()
