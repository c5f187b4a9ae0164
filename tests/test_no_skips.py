"""The no-skip rule of tests/conftest.py holds for every way a test can skip.

Each case is an inner pytest run (the `pytester` plugin, in a subprocess) of a small test module, with the
project's own conftest hooks: the inner conftest loads tests/conftest.py by its path and takes every
`pytest_*` hook it defines. A run with a skip of any kind must end with a non-zero exit status and name what
skipped in its summary; a run without one must still pass.
"""

from __future__ import annotations

import pytest
from conftest import ROOT

# The inner session's conftest: the project's hooks, exactly as CI runs them (not a copy of their code).
INNER_CONFTEST = f"""
import importlib.util
import sys

sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "tests")!r}]  # what the project's pytest.ini pythonpath gives

_spec = importlib.util.spec_from_file_location("glmchat_project_conftest", {str(ROOT / "tests" / "conftest.py")!r})
_project = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_project)
globals().update({{name: hook for name, hook in vars(_project).items()
                   if name.startswith("pytest_") and callable(hook)}})
"""

CASES = {
    "test_skip_in_test": """
        import pytest

        def test_runs():
            pass

        def test_skips():
            pytest.skip("a service is missing")
    """,
    "test_skip_module": """
        import pytest

        pytest.skip("not on this machine", allow_module_level=True)

        def test_never_collected():
            pass
    """,
    "test_importorskip": """
        import pytest

        missing = pytest.importorskip("glmchat_no_such_module_anywhere")

        def test_never_collected():
            pass
    """,
}


FINE = "def test_fine():\n    pass\n"  # a run that also passes tests, as a CI run does


def inner_run(pytester: pytest.Pytester, **modules: str):
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(**modules)
    return pytester.runpytest_subprocess("-rs", "-p", "no:cacheprovider")


@pytest.mark.parametrize("name", list(CASES))
def test_a_skip_of_any_kind_fails_the_run(pytester: pytest.Pytester, name: str):
    result = inner_run(pytester, test_fine=FINE, **{name: CASES[name]})
    out = result.stdout.str()
    assert result.ret != 0, f"the run passed with a skip:\n{out}"
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*skipped; skips are not allowed here:*", f"  {name}.py*"])
    assert result.parseoutcomes().get("skipped") == 1, out


def test_all_kinds_together_are_each_named(pytester: pytest.Pytester):
    result = inner_run(pytester, test_fine=FINE, **CASES)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["FAILED: 3 test(s) skipped; skips are not allowed here:*"])
    named = [line.strip() for line in result.stdout.lines if line.startswith("  test_")]
    assert sorted(named) == ["test_importorskip.py", "test_skip_in_test.py::test_skips", "test_skip_module.py"]
    assert result.parseoutcomes() == {"passed": 2, "skipped": 3}


def test_a_run_without_skips_passes(pytester: pytest.Pytester):
    result = inner_run(pytester, test_fine=FINE)
    assert result.ret == pytest.ExitCode.OK
    assert "skips are not allowed" not in result.stdout.str()
