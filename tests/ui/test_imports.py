"""The first page load does not import what only a request needs (cold start, issue 5)."""

import subprocess
import sys
import textwrap

from conftest import ROOT

SCRIPT = textwrap.dedent("""
    import sys
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file("app.py", default_timeout=60)
    at.run()
    assert not at.exception and at.chat_input, "the first page did not load"
    # PIL is Streamlit's own (it reads the page icon file); pandas would mean something wrote a value.
    print(" ".join(sorted(m for m in ("zhipuai", "httpx", "pandas", "glmchat.chat.client", "glmsim.simulator")
                          if m in sys.modules)))
    at.chat_input[0].set_value("hello").run()  # the offline demo: now the SDK is needed
    print(" ".join(sorted(m for m in ("zhipuai", "glmchat.chat.client") if m in sys.modules)))
""")


def test_the_sdk_and_pandas_load_with_the_first_request_not_the_first_page(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "ZHIPUAI_API_KEY": "",
        "ZHIPUAI_BASE_URL": "",
        "GLMCHAT_DATABASE_URL": f"sqlite:///{tmp_path / 'glmchat.db'}",
    }
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    first_page, after_request = out.stdout.split("\n")[-3:-1]
    assert first_page == "", f"imported for the first page: {first_page}"
    assert after_request == "glmchat.chat.client zhipuai"
