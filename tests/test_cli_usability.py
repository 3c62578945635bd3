"""What a person at a terminal sees: progress, colour, reasons beside verdicts, tallies, hints, flag names.

Terminal behaviour is tested on a real pseudo-terminal (the `pty` module): a child `openscore` whose
stdout and stderr are a TTY, as in an interactive shell. Everything else runs through CliRunner, where
the streams are not a TTY, as in a pipe or CI log.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from openscore.cli import cli
from openscore.openness.summary import summary_text
from openscore.weights import Fingerprint

REPO = Path(__file__).resolve().parents[1]
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def run(*args: str, **kwargs):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


def on_terminal(*args: str, env: dict | None = None, cwd: Path | None = None) -> tuple[int, str]:
    """Run `openscore ARGS` with stdout and stderr on a pseudo-terminal: (exit code, all it wrote)."""
    leader, follower = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM", "CI")}
    environ.update({"TERM": "xterm-256color", "COLUMNS": "120", **(env or {})})
    proc = subprocess.Popen([sys.executable, "-m", "openscore", *args], stdin=subprocess.DEVNULL, stdout=follower,
                            stderr=follower, env=environ, cwd=cwd)
    os.close(follower)
    chunks = []
    with contextlib.suppress(OSError):  # EIO once the child has closed its end
        while chunk := os.read(leader, 65536):
            chunks.append(chunk)
    os.close(leader)
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


# -- --sparse, and --sample as its deprecated alias ------------------------------------------------------------


@pytest.mark.parametrize("command", [["fingerprint"], ["compare"], ["audit"], ["registry", "match"]])
def test_sparse_is_the_flag_and_sample_is_hidden(command):
    shown = run(*command, "--help").stdout
    assert "--sparse" in shown
    assert "--sample" not in shown


def test_the_deprecated_sample_flag_warns_and_means_sparse(tmp_path):
    sparse, alias = tmp_path / "sparse.osfp", tmp_path / "alias.osfp"
    new = run("fingerprint", "sample:tiny-llama", "--sparse", "-o", str(sparse))
    old = run("fingerprint", "sample:tiny-llama", "--sample", "-o", str(alias))
    assert (new.exit_code, old.exit_code) == (0, 0)
    assert "is deprecated" not in new.stderr
    assert "openscore: warning: --sample is deprecated, use --sparse (same meaning)" in old.stderr
    assert alias.read_bytes() == sparse.read_bytes()
    assert Fingerprint.load(sparse).sample is True
    full = tmp_path / "full.osfp"
    assert run("fingerprint", "sample:tiny-llama", "-o", str(full)).exit_code == 0
    assert full.read_bytes() != sparse.read_bytes()


def test_sample_alias_on_audit_reads_sparse(tmp_path):
    res = run("audit", "sample:tiny-llama-shell", "--sample", "--reports", str(tmp_path), "--format", "json")
    assert res.exit_code == 0
    assert "--sample is deprecated" in res.stderr
    assert '"sample": true' in res.stdout  # provenance details record the sparse read


# -- progress ----------------------------------------------------------------------------------------------------


def test_progress_off_a_terminal_is_a_few_plain_lines_in_mib(tmp_path):
    res = run("fingerprint", "sample:tiny-llama", "-o", str(tmp_path / "fp.osfp"))
    lines = [line for line in res.stderr.splitlines() if line.startswith("  fingerprint sample:tiny-llama:")]
    assert 2 <= len(lines) <= 5, res.stderr  # the start and each quarter, not one line per tensor
    assert lines[0] == "  fingerprint sample:tiny-llama: 0.9 MiB to read"
    assert all(re.fullmatch(r"  fingerprint sample:tiny-llama: [\d.,]+ of 0\.9 MiB, [\d.,]+ MiB/s", line)
               for line in lines[1:]), lines
    assert lines[-1].startswith("  fingerprint sample:tiny-llama: 0.9 of 0.9 MiB")
    assert " MB" not in res.stderr and "%" not in res.stderr  # one unit family
    assert res.stderr.splitlines()[-1].endswith("39 tensors, read 0.9 of 0.9 MiB")
    assert "\r" not in res.stderr and "\x1b" not in res.stderr


def test_progress_on_a_terminal_is_one_live_line_with_rate_and_eta(tmp_path):
    code, shown = on_terminal("fingerprint", "sample:tiny-llama", "-o", str(tmp_path / "fp.osfp"))
    assert code == 0, shown
    assert "\x1b[?25l" in shown  # the live line hides the cursor while it redraws itself
    assert re.search(r"fingerprint sample:tiny-llama .*0\.\d/0\.9 MiB", shown), shown
    assert "MiB/s" in shown and " MB" not in shown
    assert "MiB to read" not in shown  # no plain lines on a terminal


# -- colour ------------------------------------------------------------------------------------------------------


def test_verdicts_are_coloured_on_a_terminal_unless_no_color(tmp_path):
    code, shown = on_terminal("compare", "sample:tiny-llama", "sample:tiny-llama-shell")
    assert code == 0, shown
    assert "\x1b[1;31mrenamed-copy\x1b[0m" in shown
    code, plain = on_terminal("compare", "sample:tiny-llama", "sample:tiny-llama-shell", env={"NO_COLOR": "1"})
    assert code == 0 and "renamed-copy" in plain
    assert not ANSI_COLOUR.search(plain.replace("\x1b[0m", "")), plain


def test_no_colour_in_a_pipe():
    res = run("compare", "sample:tiny-llama", "sample:tiny-llama-shell")
    assert res.stdout.startswith("verdict: renamed-copy (confidence 1.000, score 1.000)\nreason: ")
    assert "\x1b" not in res.output


def test_gate_and_audit_colour_statuses_grades_and_severities_on_a_terminal(tmp_path):
    code, shown = on_terminal("gate", "sample:tiny-llama-shell", "--no-weights", "--policy",
                              str(REPO / "examples" / "openscore.yaml"), "--today", "2026-01-01")
    assert code == 1, shown
    assert "\x1b[1;31mFAIL\x1b[0m" in shown and "\x1b[1;31mFAILED\x1b[0m: 0 passed, 1 failed" in shown
    code, shown = on_terminal("audit", "sample:tiny-llama-shell", "--reports", str(tmp_path))
    assert code == 0, shown
    assert "\x1b[1;31mrenamed-copy\x1b[0m" in shown and "\x1b[1;31mERROR\x1b[0m licence-laundering" in shown
    assert "\x1b[31mclosed\x1b[0m" in shown  # grades


# -- reasons beside verdicts -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shell_report():
    from openscore.audit import audit

    return audit("sample:tiny-llama-shell")


def test_audit_summary_gives_the_reason_beside_the_provenance_verdict(shell_report):
    text = summary_text(shell_report)
    assert ("  provenance: renamed-copy of openscore-samples/tiny-llama, confidence 1.00: all 38 informative tensors "
            "are byte-identical; 8 are stored under other names\n") in text
    odd = shell_report.model_copy(deep=True)
    odd.provenance.verdict, odd.provenance.base, odd.provenance.confidence = "inconclusive", None, None
    odd.provenance.details = {"reason": "the weight files are Git-LFS pointers only; no registry entry has these "
                                        "file hashes"}
    assert ("  provenance: inconclusive: the weight files are Git-LFS pointers only; no registry entry has these "
            "file hashes\n") in summary_text(odd)
    odd.provenance.details = {}
    assert "  provenance: inconclusive: no reason recorded\n" in summary_text(odd)


def test_painted_summary_keeps_its_columns(shell_report):
    def brackets(kind: str, word: str, meaning: str | None = None) -> str:
        return f"<{kind}:{word}>"

    plain = summary_text(shell_report).splitlines()
    painted = summary_text(shell_report, paint=brackets).splitlines()
    assert len(plain) == len(painted)
    assert "  provenance: <verdict:renamed-copy> of openscore-samples/tiny-llama" in "\n".join(painted)
    assert "    <severity:error> licence-laundering: " in "\n".join(painted).replace("ERROR", "error")
    grade_rows = [(p, q) for p, q in zip(plain, painted, strict=True) if "<grade:" in q and q.startswith("    ") and
                  "  " in q.strip()]
    assert grade_rows
    for p, q in grade_rows:  # the reason column starts where it did: padding counts the word, not the paint
        word = re.search(r"<grade:([a-z/]+)>", q).group(1)
        assert re.sub(r"<grade:([a-z/]+)>", r"\1", q) == p, (p, q, word)


# -- tallies, hints, aliases ---------------------------------------------------------------------------------------


def test_gate_without_a_policy_points_at_the_option_and_the_example(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = run("gate", "sample:tiny-llama")
    assert res.exit_code == 2
    assert res.stderr == ("openscore: error: no --policy given and no openscore.yaml in this folder: pass --policy "
                          "FILE (start from examples/openscore.yaml in the openscore repository)\n")


def test_gate_ends_with_a_tally(tmp_path):
    res = run("gate", "sample:tiny-llama", "sample:tiny-llama-shell", "--no-weights", "--today", "2026-01-01",
              "--policy", str(REPO / "examples" / "openscore.yaml"))
    assert res.exit_code == 1
    assert res.stderr.splitlines()[-1] == "FAILED: 0 passed, 2 failed, 0 not evaluated (exit 1)"


def test_lock_ends_with_a_tally(tmp_path):
    res = run("lock", "sample:tiny-llama", "sample:tiny-llama-shell", "-o", str(tmp_path / "openscore.lock"))
    assert res.exit_code == 0
    assert res.stderr.splitlines()[-1] == f"wrote {tmp_path / 'openscore.lock'}: 2 model(s), 8 files pinned"
