"""glmchat.context helpers that need no running page."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit import config as st_config
from streamlit.runtime.secrets import Secrets

from glmchat.ui import context


@pytest.fixture
def secrets_files(monkeypatch, tmp_path):
    """Point Streamlit's secrets paths at tmp_path/secrets.toml, with a fresh st.secrets."""
    path = tmp_path / "secrets.toml"
    saved = st_config.get_option("secrets.files")
    st_config.set_option("secrets.files", [str(path)])
    fresh = Secrets()
    monkeypatch.setattr(st, "secrets", fresh)
    yield path, fresh
    st_config.set_option("secrets.files", saved)


def test_no_secrets_file_reads_nothing_and_takes_no_lock(secrets_files, monkeypatch):
    parses = []
    real = Secrets._parse
    monkeypatch.setattr(Secrets, "_parse", lambda self: parses.append(1) or real(self))
    assert context.secrets() == {}
    assert parses == []  # Streamlit's parse rescans the paths under a process-wide lock, and raises


def test_secrets_file_is_read_and_one_added_later_is_seen(secrets_files):
    path, _ = secrets_files
    assert context.secrets() == {}
    path.write_text('ZHIPUAI_API_KEY = "from-file"\n', encoding="utf-8")
    assert context.secrets() == {"ZHIPUAI_API_KEY": "from-file"}


def test_secrets_set_without_a_file_are_read(secrets_files):
    _, fresh = secrets_files
    fresh._secrets = {"GLMCHAT_ACCESS": "byok"}  # what AppTest does with at.secrets
    assert context.secrets() == {"GLMCHAT_ACCESS": "byok"}
