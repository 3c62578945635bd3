"""The read budget of sampled fingerprints (openscore/read_budget.py): a stratified, name-free subset of the
layers when the headers and every matrix's rows do not fit, complete structure, honest compare, own cache key."""

from __future__ import annotations

import json
import re
from functools import lru_cache

import pytest
import torch
from click.testing import CliRunner

from openscore.cli import cli
from openscore.errors import UsageError
from openscore.read_budget import MIN_BUDGET_BYTES, Matrix, ReadBudget, layer_order, parse_budget, select
from openscore.weights import compare
from openscore.weights.cache import FingerprintCache
from openscore.weights.compare import geometry
from test_weights_support import config, drop_layer, fingerprint_of, init_state, write_model

#: 8 layers of 256-wide matrices: a sampled fingerprint holds 2,048 values per matrix, so the power
#: certificate's 40,000 values need the embeddings and 3 layers; bf16 keeps the files at 10 MB
G = dict(hidden=256, inter=512, layers=8, vocab=512, heads=4, kv_heads=2)
TIGHT = ReadBudget(size=1024)  # nothing fits: the smallest sound subset


@lru_cache(maxsize=None)
def _states() -> dict[str, dict[str, torch.Tensor]]:
    base = init_state(3, G)
    gen = torch.Generator().manual_seed(4)
    tuned = {k: v + 0.01 * torch.randn(v.shape, generator=gen) if v.ndim == 2 else v for k, v in base.items()}
    return {"base": base, "tuned": tuned, "other": init_state(5, G)}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("budget")
    folders = {name: write_model(root / name, state, dtype=torch.bfloat16, cfg=config(G))
               for name, state in _states().items()}
    shorter = {**config(G), "num_hidden_layers": G["layers"] - 1}
    folders["dropped"] = write_model(root / "dropped", drop_layer(_states()["tuned"], 5), dtype=torch.bfloat16,
                                     cfg=shorter)
    renamed = {k.replace("mlp.", "feed_forward."): v for k, v in _states()["tuned"].items()}
    folders["renamed"] = write_model(root / "renamed", renamed, dtype=torch.bfloat16, cfg=config(G))
    return folders


def test_parse_budget_spellings_and_refusals():
    assert parse_budget("2%") == ReadBudget(share=0.02) and parse_budget(" 0.5 % ") == ReadBudget(share=0.005)
    assert parse_budget("64MiB") == ReadBudget(size=64 << 20)
    assert parse_budget("1.5GB") == ReadBudget(size=1_500_000_000)
    assert parse_budget("none") is None and parse_budget("0") is None
    for bad in ("150%", "-1%", "lots", "2 parsecs"):
        with pytest.raises(UsageError):
            parse_budget(bad)
    assert ReadBudget(share=0.02).limit(10 << 30) == int(0.02 * (10 << 30))
    assert ReadBudget(share=0.02).limit(1000) == MIN_BUDGET_BYTES  # a percentage never allows under 1 MiB
    assert ReadBudget(share=0.02).key != ReadBudget(share=0.02, floor=0).key != ReadBudget(size=5).key


def test_layer_order_is_first_last_then_midpoints_and_covers_every_layer():
    assert layer_order(30)[:7] == [0, 29, 14, 7, 21, 3, 10]
    assert layer_order(1) == [0] and layer_order(0) == []
    for n in range(1, 70):
        assert sorted(layer_order(n)) == list(range(n))


def test_select_takes_a_prefix_of_the_order_after_the_unlayered_matrices_and_keeps_a_floor():
    matrices = [Matrix(None, 10, 100)] + [Matrix(layer, 100, 1000) for layer in range(10) for _ in range(2)]
    chosen, layers, spent = select(matrices, allowance=10 + 5 * 200, min_values=0)
    assert 0 in chosen and layers == sorted(layer_order(10)[:5]) and spent == 10 + 5 * 200
    # nothing fits: the first and last layers, then more until the values floor is met
    assert select(matrices, allowance=0, min_values=0)[1] == [0, 9]
    assert select(matrices, allowance=0, min_values=5000)[1] == sorted(layer_order(10)[:3])
    # a looser budget takes a superset (nested subsets: budgeted copies share layers)
    small = select(matrices, allowance=700, min_values=0)[1]
    assert set(small) <= set(select(matrices, allowance=1300, min_values=0)[1])


def test_a_budget_that_does_not_bind_gives_the_unbudgeted_fingerprint_byte_for_byte(models):
    default = fingerprint_of(models["tuned"], sample=True)  # the default 2 % (at least 1 MiB) fits
    assert default.budget is None
    assert default.to_bytes() == fingerprint_of(models["tuned"], sample=True, read_budget=None).to_bytes()


def test_a_binding_budget_samples_whole_layers_by_position_and_keeps_the_structure(models):
    whole = fingerprint_of(models["tuned"], sample=True, read_budget=None)
    fp = fingerprint_of(models["tuned"], sample=True, read_budget=TIGHT)
    record = fp.budget
    assert record.layers == [0, 3, 7] and record.layer_count == 8  # first, last, middle: the values floor
    assert record.matrices == 2 + 7 * 8 and record.sampled == 2 + 7 * 3 and record.exceeded > 0
    assert fp.bytes_read < whole.bytes_read and geometry(fp) == geometry(whole)
    sketched = {(t.role, t.layer) for t in fp.tensors if t.sketch}
    assert {layer for _, layer in sketched} == {None, 0, 3, 7}
    assert len(record.skipped) == 7 * 5 and not any(t.sketch for t in fp.tensors if t.name in record.skipped)
    # names play no part: a renamed copy reads the same layers
    renamed = fingerprint_of(models["renamed"], sample=True, read_budget=TIGHT)
    assert renamed.budget.layers == record.layers and renamed.budget.sampled == record.sampled
    # a budgeted fingerprint survives its file format
    back = type(fp).from_bytes(fp.to_bytes())
    assert back.budget == record and back.to_bytes() == fp.to_bytes()


def test_token_responses_are_planned_first_and_left_out_rather_than_exceed_the_budget(models):
    """Version 10: a 256-wide pre-norm model's sampled fingerprint reads attn_k of its first and last layer whole,
    with 128 probe rows and two gains, for its token responses. Within a budget they are planned before the
    stratified layers; a budget that cannot hold them beside the smallest sound subset reads none."""
    import numpy as np

    whole = fingerprint_of(models["tuned"], sample=True, read_budget=None)
    kept = [t for t in whole.tensors if "responses" in t.sketch]
    assert [(t.role, t.layer) for t in kept] == [("attn_k", 0), ("attn_k", 7)]
    tight = fingerprint_of(models["tuned"], sample=True, read_budget=TIGHT)
    assert tight.budget.exceeded > 0 and tight.budget.response_bytes == 0 and not tight.response_tokens
    assert not any("responses" in t.sketch for t in tight.tensors)
    # the smallest sound subset plus the responses' bytes (bf16: 2 x 128 x 256 x 2 of attn_k, 128 x 256 x 2 of
    # probe rows, 2 x 256 x 2 of gains): both fit, the responses first
    responses = 2 * 128 * 256 * 2 + 128 * 256 * 2 + 2 * 256 * 2
    fp = fingerprint_of(models["tuned"], sample=True,
                        read_budget=ReadBudget(size=TIGHT.size + tight.budget.exceeded + responses))
    record = fp.budget
    assert record.exceeded == 0 and record.response_bytes == responses and record.layers == [0, 3, 7], record
    assert record.header_bytes + fp.bytes_read <= record.limit
    assert fp.response_tokens == whole.response_tokens
    for t in (t for t in fp.tensors if "responses" in t.sketch):
        assert np.array_equal(fp.array(t, "responses"), whole.array(next(w for w in kept if w.name == t.name),
                                                                    "responses"))


def test_compare_on_a_budgeted_subset_says_its_coverage_and_claims_no_structure_it_did_not_read(models):
    ref = fingerprint_of(models["base"], sample=True, read_budget=None)
    tuned = fingerprint_of(models["tuned"], sample=True, read_budget=TIGHT)
    result = compare(ref, tuned)
    assert result.verdict == "derived" and not result.layers_dropped and not result.transformations, result
    assert "candidate: on 23 of 58 matrices sampled within a 1,024 bytes read budget, exceeded by" in result.reason
    # a budgeted reference: the candidate's layers it did not read are not counted as not inherited
    assert compare(fingerprint_of(models["base"], sample=True, read_budget=TIGHT),
                   fingerprint_of(models["tuned"], sample=True, read_budget=None)).verdict == "derived"
    # a layer really dropped: the depths differ, which ones is not claimed
    dropped = compare(ref, fingerprint_of(models["dropped"], sample=True, read_budget=TIGHT))
    assert dropped.verdict == "partially-derived" and not dropped.layers_dropped, dropped
    assert "8 -> 7 layers (which ones: not known from a budgeted sample)" in dropped.transformations
    # an independent model stays unrelated on the subset
    other = compare(ref, fingerprint_of(models["other"], sample=True, read_budget=TIGHT))
    assert other.verdict in ("architecture-clone", "inconclusive") and other.max_z < 10, other


def test_a_budgeted_candidates_inherited_share_weighs_each_layer_read_for_the_layers_it_stands_for():
    from openscore.read_budget import BudgetRecord
    from openscore.weights import Fingerprint
    from openscore.weights.compare import TensorMatch, _inherited_share

    # embeddings and head not inherited (a rotated residual stream), 2 of 4 layers read, every layer inherited
    matches = [TensorMatch(candidate=n, reference=n, role="embed", statistic="direct", z=3.0) for n in "ab"]
    matches += [TensorMatch(candidate=f"{layer}.{i}", reference="x", role="attn_q", layer=layer, statistic="direct",
                            z=40.0) for layer in (0, 3) for i in range(7)]
    inherited = [m for m in matches if m.z >= 10]
    fp = Fingerprint(source="c")
    assert _inherited_share(fp, [m.layer for m in matches], [m.layer for m in inherited]) == 14 / 16  # unbudgeted: the plain share, under 90 %
    fp.budget = BudgetRecord(budget="1 %", limit=1, header_bytes=0, matrices=30, sampled=16, layers=[0, 3],
                             layer_count=4, skipped=[])
    assert _inherited_share(fp, [m.layer for m in matches], [m.layer for m in inherited]) == 28 / 30  # as the whole model would give: derived


def test_the_cache_keys_budgeted_fingerprints_apart(tmp_path):
    cache = FingerprintCache(tmp_path)
    paths = {cache.path("org/m", "a" * 40, sample=True, budget=b) for b in (None, ReadBudget(share=0.02),
                                                                             ReadBudget(share=0.01), TIGHT)}
    paths.add(cache.path("org/m", "a" * 40, sample=False))
    assert len(paths) == 5


def test_audit_says_when_the_header_alone_exceeds_the_budget(fake_hub, models, tmp_path):
    fake_hub.add_repo("org/tuned", models["tuned"])
    res = CliRunner().invoke(cli, ["audit", "org/tuned", "--endpoint", fake_hub.endpoint, "--sparse",
                                   "--read-budget", "1KiB", "--format", "json", "--reports", str(tmp_path)])
    assert res.exit_code == 0, res.output
    line = re.search(r"weights: read .*", res.stderr).group(0)
    assert "read budget 1,024 bytes: 23 of 58 matrices sampled (3 of 8 layers)" in line, line
    assert "header alone" in line and "> budget: read the smallest sound subset" in line, line
    assert re.search(r"budget exceeded by [\d.]+ MiB", line), line
    details = json.loads(res.stdout)["provenance"]["details"]
    assert details["read_budget"]["layers"] == [0, 3, 7] and details["read_budget"]["exceeded"] > 0
    bad = CliRunner().invoke(cli, ["audit", "org/tuned", "--endpoint", fake_hub.endpoint, "--sparse",
                                   "--read-budget", "lots"])
    assert bad.exit_code != 0 and "--read-budget 'lots'" in bad.output
    whole = CliRunner().invoke(cli, ["audit", "org/tuned", "--endpoint", fake_hub.endpoint, "--read-budget", "1KiB"])
    assert whole.exit_code == 2 and "--read-budget bounds sampled reads only: add --sparse" in whole.output


def test_the_declared_base_is_fetched_within_the_audits_budget(fake_hub, models, tmp_path):
    import shutil

    from openscore.weights.cache import FingerprintCache

    declaring = tmp_path / "declaring"
    shutil.copytree(models["tuned"], declaring)
    (declaring / "README.md").write_text("---\nlicense: apache-2.0\nbase_model: org/base\n---\n# tuned\n")
    fake_hub.add_repo("org/base", models["base"])
    fake_hub.add_repo("org/tuned", declaring)
    res = CliRunner().invoke(cli, ["audit", "org/tuned", "--endpoint", fake_hub.endpoint, "--sparse",
                                   "--read-budget", "1KiB", "--format", "json", "--reports", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    check = json.loads(res.stdout)["provenance"]["declared_base_check"]
    assert check["status"] == "confirmed", check
    sha = fake_hub.repos["org/base"].revisions["main"].sha
    base = FingerprintCache().get("org/base", sha, sample=True, budget=ReadBudget(size=1024))
    assert base is not None and base.budget.layers == [0, 3, 7]  # read within the audit's budget, cached as such
    assert FingerprintCache().get("org/base", sha, sample=True) is None  # not under the default budget's key


def test_fingerprint_and_compare_commands_take_the_budget(models, tmp_path):
    out = tmp_path / "tuned.osfp"
    res = CliRunner().invoke(cli, ["fingerprint", str(models["tuned"]), "-o", str(out), "--sparse",
                                   "--read-budget", "1KiB"])
    assert res.exit_code == 0, res.output
    assert "on 23 of 58 matrices sampled within a 1,024 bytes read budget" in res.stderr
    res = CliRunner().invoke(cli, ["compare", str(models["base"]), str(out), "--sparse", "--read-budget", "none"])
    assert res.exit_code == 0 and "verdict: derived" in res.stdout, res.output
    assert "candidate: on 23 of 58 matrices" in res.stdout and "reference:" not in res.stdout
