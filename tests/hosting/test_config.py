from glmchat.hosting import config


def test_secrets_win_over_environment_and_visitor():
    src = config.find_key({"ZHIPUAI_API_KEY": "from-secrets"}, "visitor", environ={"ZHIPUAI_API_KEY": "from-env"})
    assert (src.key, src.origin) == ("from-secrets", "secrets")


def test_environment_then_visitor():
    assert config.find_key({}, "visitor", environ={"ZHIPUAI_API_KEY": "env"}).origin == "env"
    src = config.find_key({}, "  visitor-key  ", environ={})
    assert (src.key, src.origin) == ("visitor-key", "visitor")


def test_blank_keys_count_as_missing():
    assert config.find_key({"ZHIPUAI_API_KEY": "   "}, "", environ={"ZHIPUAI_API_KEY": ""}) is None
    assert config.find_key({"ZHIPUAI_API_KEY": None}, None, environ={}) is None


def test_key_never_in_repr():
    src = config.find_key({}, "sk-very-secret", environ={})
    assert "sk-very-secret" not in repr(src) and "sk-very-secret" not in str(src)


def test_base_url_from_secrets_or_env():
    assert (
        config.base_url({"ZHIPUAI_BASE_URL": "https://api.z.ai/api/paas/v4"}, environ={})
        == "https://api.z.ai/api/paas/v4"
    )
    assert config.base_url({}, environ={"ZHIPUAI_BASE_URL": "http://127.0.0.1:9/x"}) == "http://127.0.0.1:9/x"
    assert config.base_url({}, environ={"ZHIPUAI_BASE_URL": " "}) is None


def test_dotenv_is_loaded_without_overriding(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("ZHIPUAI_API_KEY=from-dotenv\nZHIPUAI_BASE_URL=http://x.invalid\n")
    monkeypatch.delenv("ZHIPUAI_API_KEY", raising=False)
    monkeypatch.setenv("ZHIPUAI_BASE_URL", "http://kept.invalid")
    config.load_env_file(tmp_path / ".env")
    import os

    assert os.environ["ZHIPUAI_API_KEY"] == "from-dotenv"
    assert os.environ["ZHIPUAI_BASE_URL"] == "http://kept.invalid"
    monkeypatch.delenv("ZHIPUAI_API_KEY")
