"""What a person at a terminal sees: progress, colour, reasons beside verdicts, tallies, hints, flag names.

Terminal behaviour is tested on a real pseudo-terminal (the `pty` module): a child `openscore` whose
stdout and stderr are a TTY, as in an interactive shell. Everything else runs through CliRunner, where
the streams are not a TTY, as in a pipe or CI log.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
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


#: runs each argv (JSON list of lists) through the Click group in one interpreter (one torch import), each
#: run's output followed by a marker line with its exit code
TERMINAL_DRIVER = r"""
import json, sys
from openscore.cli import cli

for args in json.loads(sys.argv[1]):
    try:
        code = cli.main(args, prog_name="openscore", standalone_mode=False) or 0
    except SystemExit as exc:
        code = exc.code
    sys.stdout.flush(); sys.stderr.flush()
    print(f"=== exit {code} ===", flush=True)
"""


def on_terminal(runs: list[list[str]], env: dict | None = None, cwd: Path | None = None) -> list[tuple[int, str]]:
    """Run `openscore ARGS` for each of `runs` with stdout and stderr on a pseudo-terminal, as in an
    interactive shell: (exit code, everything it wrote) per run."""
    leader, follower = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM", "CI")}
    environ.update({"TERM": "xterm-256color", "COLUMNS": "120", **(env or {})})
    proc = subprocess.Popen([sys.executable, "-c", TERMINAL_DRIVER, json.dumps(runs)], stdin=subprocess.DEVNULL,
                            stdout=follower, stderr=follower, env=environ, cwd=cwd)
    os.close(follower)
    chunks, deadline = [], time.monotonic() + 300
    with contextlib.suppress(OSError):  # EIO once the child has closed its end
        while time.monotonic() < deadline:
            if select.select([leader], [], [], 1)[0]:
                if not (chunk := os.read(leader, 65536)):
                    break
                chunks.append(chunk)
            elif proc.poll() is not None:
                break
    os.close(leader)
    assert proc.wait(timeout=10) == 0
    parts = re.split(r"=== exit (\d+) ===\r?\n", b"".join(chunks).decode("utf-8", "replace"))
    return [(int(code), text) for text, code in zip(parts[0::2], parts[1::2], strict=False)]


@pytest.fixture(scope="module")
def terminal(tmp_path_factory) -> dict[str, tuple[int, str]]:
    """fingerprint, compare, gate and audit as a person at a terminal sees them; some with NO_COLOR, TERM=dumb."""
    tmp = tmp_path_factory.mktemp("terminal")
    names = ["fingerprint", "compare", "gate", "audit", "lock", "verify", "identify"]
    (tmp / "LICENSE").write_text("All rights reserved. Ask us first.\n")
    runs = [
        ["fingerprint", "sample:tiny-llama", "-o", str(tmp / "fp.osfp")],
        ["compare", "sample:tiny-llama", "sample:tiny-llama-shell"],
        ["gate", "sample:tiny-llama-shell", "--no-weights", "--policy", str(REPO / "examples" / "openscore.yaml"),
         "--today", "2026-01-01"],
        ["audit", "sample:tiny-llama-shell", "--reports", str(tmp / "reports")],
        ["lock", "sample:tiny-llama", "-o", str(tmp / "openscore.lock")],
        ["verify", "--offline", "--lock", str(tmp / "openscore.lock")],
        ["licence", "identify", str(tmp / "LICENSE")],
    ]
    seen = dict(zip(names, on_terminal(runs, cwd=tmp), strict=True))
    seen["compare-no-color"], seen["fingerprint-no-color"] = on_terminal(runs[1::-1], env={"NO_COLOR": "1"}, cwd=tmp)
    (seen["fingerprint-dumb"],) = on_terminal(runs[:1], env={"TERM": "dumb"}, cwd=tmp)
    return seen


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


def test_progress_on_a_terminal_is_one_live_line_with_rate_and_eta(terminal):
    code, shown = terminal["fingerprint"]
    assert code == 0, shown
    assert "\x1b[?25l" in shown  # the live line hides the cursor while it redraws itself
    assert re.search(r"fingerprint sample:tiny-llama .*0\.\d/0\.9 MiB", shown), shown
    assert "MiB/s" in shown and " MB" not in shown
    assert "MiB to read" not in shown  # no plain lines on a terminal
    code, no_color = terminal["fingerprint-no-color"]  # NO_COLOR: the live line stays, without colour
    assert code == 0 and "\x1b[?25l" in no_color and not ANSI_COLOUR.search(no_color), no_color
    code, dumb = terminal["fingerprint-dumb"]  # a terminal that cannot redraw a line gets the plain lines
    assert code == 0 and "fingerprint sample:tiny-llama: 0.9 MiB to read" in dumb and "\x1b[" not in dumb, dumb


# -- colour ------------------------------------------------------------------------------------------------------


def test_verdicts_are_coloured_on_a_terminal_unless_no_color(terminal):
    code, shown = terminal["compare"]
    assert code == 0, shown
    assert "\x1b[1;31mrenamed-copy\x1b[0m" in shown
    code, plain = terminal["compare-no-color"]
    assert code == 0 and "verdict: renamed-copy (confidence" in plain
    assert not ANSI_COLOUR.search(plain), plain


def test_no_colour_in_a_pipe():
    res = run("compare", "sample:tiny-llama", "sample:tiny-llama-shell")
    assert res.stdout.startswith("verdict: renamed-copy (confidence 1.000, score 1.000)\nreason: ")
    assert "\x1b" not in res.output


def test_gate_audit_verify_and_licence_colour_their_words_on_a_terminal(terminal):
    code, shown = terminal["gate"]
    assert code == 1, shown
    assert "\x1b[1;31mFAIL\x1b[0m" in shown and "\x1b[1;31mFAILED\x1b[0m: 0 passed, 1 failed" in shown
    code, shown = terminal["audit"]
    assert code == 0, shown
    assert "\x1b[1;31mrenamed-copy\x1b[0m" in shown and "\x1b[1;31mERROR\x1b[0m licence-laundering" in shown
    assert "\x1b[31mclosed\x1b[0m" in shown  # grades
    code, shown = terminal["verify"]
    assert code == 0, shown
    assert "\x1b[1;32mOK\x1b[0m      openscore-samples/tiny-llama" in shown and "\x1b[1;32mOK\x1b[0m: 1 of 1" in shown
    code, shown = terminal["identify"]
    assert code == 0 and "LICENSE: \x1b[35munknown\x1b[0m (confidence 0.00" in shown, shown


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
    assert "  licence: MIT (MIT License; declared 'mit', <grade:open>)" in painted
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
    # a provenance rule that cannot be judged says why, from the report
    assert ("  fail   provenance.verdict                no provenance in the report: weights not read (--no-weights): "
            "layout and provenance skipped") in res.stderr.splitlines()


def test_lock_ends_with_a_tally(tmp_path):
    res = run("lock", "sample:tiny-llama", "sample:tiny-llama-shell", "-o", str(tmp_path / "openscore.lock"))
    assert res.exit_code == 0
    assert res.stderr.splitlines()[-1] == f"wrote {tmp_path / 'openscore.lock'}: 2 model(s), 8 files pinned"


def test_summary_says_why_provenance_was_not_computed_and_when_the_base_is_the_model_itself(shell_report):
    skipped = shell_report.model_copy(deep=True)
    skipped.provenance = None
    skipped.evidence["pipeline"]["notes"] = ["weights not read (--no-weights): layout and provenance skipped"]
    assert ("  provenance: not computed: weights not read (--no-weights): layout and provenance skipped\n"
            in summary_text(skipped))
    own = shell_report.model_copy(deep=True)
    own.source.repo_id = "openscore-samples/tiny-llama"
    assert "  provenance: renamed-copy of openscore-samples/tiny-llama (its own registry entry), confidence" in (
        summary_text(own))


def test_gate_hints_at_allow_incomplete_when_a_model_cannot_be_evaluated(tmp_path):
    unreachable = ["acme/model", "--endpoint", "http://127.0.0.1:9",  # nothing listens on the discard port
                   "--policy", str(REPO / "examples" / "openscore.yaml")]
    res = run("gate", *unreachable)
    assert res.exit_code == 3
    lines = res.stderr.splitlines()
    assert lines[-2] == "hint: --allow-incomplete turns models that cannot be evaluated into warnings (exit 0 or 1)"
    assert lines[-1] == "INCOMPLETE: 0 passed, 0 failed, 1 not evaluated (exit 3)"
    allowed = run("gate", *unreachable, "--allow-incomplete")
    assert allowed.exit_code == 0 and "hint:" not in allowed.stderr


@pytest.mark.parametrize(("typed", "hint"), [("audti", " Did you mean 'audit'?"), ("xyzzy", "")])
def test_a_mistyped_command_suggests_the_closest_one(typed, hint):
    res = CliRunner().invoke(cli, [typed])
    assert res.exit_code == 2
    assert res.stderr.splitlines()[-1] == f"Error: No such command {typed!r}.{hint}"


def test_summary_shows_a_classification_without_an_empty_score(shell_report):
    text = summary_text(shell_report)
    assert "  mof 1.0.0: Unclassified\n" in text and "  osaid 1.0.0: fail\n" in text
    assert "no score" not in text


def test_a_fingerprint_line_can_live_inside_a_batch_line(monkeypatch):
    """A batch's live line (models done) and a fingerprint's (bytes read) at once: rich >= 14.1 nests them."""
    import io

    from rich.console import Console

    from openscore.cli import console

    screen = io.StringIO()
    monkeypatch.setattr(console, "err_console", lambda: Console(file=screen, force_terminal=True, width=120))
    with console.progress_bar("auditing", 2, unit="models") as batch:
        for done in (1, 2):
            meter = console.ByteMeter("  fingerprint")
            for step in range(5):
                meter(step * 2**20, 4 * 2**20)
            assert not console.ByteMeter._open  # closed once all bytes were read
            batch.update(done)
    shown = screen.getvalue()
    assert "auditing" in shown and "fingerprint" in shown and "4.0/4.0 MiB" in shown


def test_the_live_line_fits_an_80_column_terminal_whatever_the_label(monkeypatch):
    import io

    from rich.console import Console

    from openscore.cli import console

    screen = io.StringIO()
    monkeypatch.setattr(console, "err_console", lambda: Console(file=screen, force_terminal=True, width=80))
    meter = console.ByteMeter("fingerprint /a/very/long/folder/name/" + "x" * 120)
    for step in range(5):
        meter(step * 300 * 2**20, 1200 * 2**20)
    frames = [ANSI_COLOUR.sub("", f) for f in re.split(r"[\r\n]", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", lambda m: m[0]
              if m[0].endswith("m") else "\n", screen.getvalue())) if f.strip()]
    assert frames and all(len(f) <= 80 for f in frames), frames
    assert any(re.search(r"….* [\d.,]+/1,200\.0 MiB [\d.,-]+ MiB/s +(-|\d):", f) for f in frames), frames


def test_a_folder_is_labelled_by_its_name(tmp_path):
    from openscore.samples import materialize

    folder = materialize("tiny-llama")
    res = run("fingerprint", str(folder), "-o", str(tmp_path / "fp.osfp"))
    assert res.exit_code == 0
    assert f"  fingerprint {folder.name}: 0.9 MiB to read\n" in res.stderr and str(folder.parent) not in res.stderr
