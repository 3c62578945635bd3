"""The CI gate: check audit reports against a reviewed policy and answer with an exit code.

    from openscore.gate import load_policy, run_gate
    result = run_gate(load_policy("openscore.yaml"), ["org/model@sha", "reports/x.json"])
    result.exit_code  # 0 pass, 1 violation, 3 could not evaluate

Policy format and outputs: docs/gate.md.
"""

from openscore.gate.engine import load_report, run_gate
from openscore.gate.outputs import parse_output_specs, write_outputs
from openscore.gate.policy import LoadedPolicy, Policy, load_policy
from openscore.gate.result import CheckResult, GateResult, ModelResult

__all__ = [
    "CheckResult", "GateResult", "LoadedPolicy", "ModelResult", "Policy",
    "load_policy", "load_report", "parse_output_specs", "run_gate", "write_outputs",
]
