"""How the benchmarks start the apps (bench/procs.py)."""

from __future__ import annotations

from bench import procs


def test_the_naive_app_keeps_streamlits_collection_after_every_run_and_glm_chat_its_own_config():
    sim = procs.Simulator(proc=None, root="http://127.0.0.1:1", ttft=0.0, token_delay=0.01)
    # The naive app runs from the snapshot's root, where GLM Chat's config.toml turns the collection off;
    # the reference keeps Streamlit's default, as the docs' pattern would.
    assert procs.app_env("naive", sim, "sqlite://")["STREAMLIT_RUNNER_POST_SCRIPT_GC"] == "true"
    assert "STREAMLIT_RUNNER_POST_SCRIPT_GC" not in procs.app_env("glm", sim, "sqlite://")
