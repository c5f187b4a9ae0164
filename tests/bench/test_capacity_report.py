"""The capacity benchmark's arithmetic and its section of docs/benchmarks.md (bench/capacity*.py)."""

from __future__ import annotations

from bench import capacity_report
from bench.capacity import Step
from bench.capacity_report import capacity


def step(setup: str, rate: float, p95: float, errors: int = 0) -> Step:
    summary = {"errors": ["x"] * errors, "turns": 3, "complete": 3 - errors}
    return Step(setup, "new", 0.0, rate, rate * 3, summary, {"p50": p95 / 2, "p95": p95}, {}, None, 1)


def test_capacity_is_the_highest_step_that_met_the_target_and_a_lower_miss_is_marked():
    steps = [step("glm", 0.5, 400), step("glm", 1.0, 250), step("glm", 2.0, 290, errors=1), step("glm", 3.0, 900)]
    assert capacity(steps, "glm", "new", 0.0) == 3.0  # 1.0 arrivals/s x 3 turns; 2.0 had an error
    assert capacity_report._cap(steps, "glm", "new", 0.0) == "3*"
    assert capacity(steps, "naive", "new", 0.0) == 0.0
    assert capacity_report._cap([step("glm", 0.5, 100), step("glm", 1.0, 200)], "glm", "new", 0.0) == "≥ 3"


def test_the_section_replaces_itself_and_leaves_the_rest_of_the_report(tmp_path):
    report = tmp_path / "benchmarks.md"
    report.write_text("# Report\n\n<!-- notes:start -->\nmine\n<!-- notes:end -->\n", encoding="utf-8")
    first = f"{capacity_report.START}\nold figures\n{capacity_report.END}\n"
    capacity_report.insert(report, first)
    capacity_report.insert(report, first.replace("old", "new"))
    text = report.read_text(encoding="utf-8")
    assert text.count(capacity_report.START) == 1 and "new figures" in text and "old figures" not in text
    assert "<!-- notes:start -->\nmine\n<!-- notes:end -->" in text
    assert capacity_report.kept(report) == first.replace("old", "new").rstrip("\n")
