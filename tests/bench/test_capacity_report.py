"""The capacity benchmark's arithmetic and its section of docs/benchmarks.md (bench/capacity*.py)."""

from __future__ import annotations

from bench import capacity_report
from bench.capacity import Step
from bench.capacity_report import capacity


def step(setup: str, rate: float, p95: float, errors: int = 0) -> Step:
    summary = {
        "errors": ["x"] * errors,
        "turns": 3,
        "complete": 3 - errors,
        "server_cpu_ms_per_turn": 100.0,
        "generator_cpu_ms_per_visitor": 60.0,
        "messages_before_first_token": {"p50": 10},
        "places_before_first_token": {"p50": 10},
    }
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


def test_the_machine_counter_sees_cpu_burned_by_this_process():
    import time

    from bench.procs import machine_cpu_seconds

    before, cpu0 = machine_cpu_seconds(), time.process_time()
    while time.process_time() - cpu0 < 0.3:  # 0.3 s of CPU in this process
        pass
    burned = time.process_time() - cpu0
    assert machine_cpu_seconds() - before >= 0.8 * burned  # the machine counts ours, and maybe others' too


def test_every_step_shows_the_cores_busy_and_a_replicas_rerun_is_named():
    res = {
        "command": "bash bench/capacity.sh",
        "started": "2026-12-07 12:00",
        "finished": "2026-12-07 12:30",
        "wall_s": 1800,
        "config": {"turns": 3, "think": [2, 5], "words": 20, "target_ms": 300},
        "machine": {
            "git_commit": "abcdef1234",
            "git_dirty": [],
            "nproc": 2,
            "cpu_model": "x",
            "loadavg_end": "1 1 1",
            "busy_cores_before": 0.0,
            "busy_cores_after": 0.0,
        },
        "replicas_run": "again at `1234567890`",
    }
    one, two = step("glm x1", 1.0, 200), step("glm x2", 1.0, 150)
    one.summary.update(server_cores=0.71, machine_cores=1.93)
    text = capacity_report.section(res, [step("glm", 1.0, 200), one, two], "p.png")
    assert "| 0.71 / 1.93 |" in text  # a step measured with the machine's counter
    assert "| – / – |" in text  # a step from a run before it
    assert "The replica steps ran again at `1234567890`." in text
