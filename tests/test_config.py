"""Configuration: defaults, dotted overrides, one-line errors naming the key, secrets."""

from __future__ import annotations

import pytest

from tiktok_research import config


def test_defaults_validate():
    loaded = config.load()
    assert loaded["max_results"] == 20
    assert loaded["workers"] == 3
    assert loaded["serper"]["base_url"] == "https://google.serper.dev"
    assert loaded["tiktok"]["hosts"] == ["tiktok.com", "www.tiktok.com", "m.tiktok.com"]
    assert loaded["ocr"]["engine"] == "local"
    assert loaded["database"]["backend"] == "sqlite"


def test_dotted_overrides_become_nested():
    loaded = config.load({"serper.base_url": "http://127.0.0.1:9", "max_results": 5})
    assert loaded["serper"]["base_url"] == "http://127.0.0.1:9"
    assert loaded["serper"]["gl"] == "us"  # the rest of the section is kept
    assert loaded["max_results"] == 5


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"max_resluts": 5}, "max_resluts"),
        ({"serper.base_ulr": "http://x"}, "serper.base_ulr"),
        ({"max_results": 0}, "max_results"),
        ({"workers": "many"}, "workers"),
        ({"ocr.engine": "tesseract"}, "ocr.engine"),
        ({"storage.backend": "s3"}, "storage.backend"),
        ({"search_only": "perhaps"}, "search_only"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(overrides, named):
    with pytest.raises(config.ConfigError) as caught:
        config.load(overrides)
    message = str(caught.value)
    assert "\n" not in message
    assert named in message


def test_numeric_query_is_text():
    assert config.load({"query": 2024})["query"] == "2024"


def test_missing_secret_names_it(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SERPER_API_KEY", raising=False)
    with pytest.raises(config.MissingSecret, match="SERPER_API_KEY"):
        config.require_secret("SERPER_API_KEY", "search")


def test_dotenv_is_read_without_overriding(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SERPER_API_KEY", raising=False)
    monkeypatch.setenv("GCS_BUCKET", "from-env")
    (tmp_path / ".env").write_text("SERPER_API_KEY=from-dotenv\nGCS_BUCKET=from-file\n")
    assert config.require_secret("SERPER_API_KEY", "search") == "from-dotenv"
    assert config.secret("GCS_BUCKET") == "from-env"


def test_redact_hides_credentials(monkeypatch):
    monkeypatch.setenv("SERPER_API_KEY", "s3cr3t-key-value")
    assert "s3cr3t" not in config.redact("request failed with key s3cr3t-key-value")


def test_redact_hides_every_credential_and_the_database_password_alone(monkeypatch):
    url = "postgresql://research:pa55-w0rd-91@db.internal:5432/study"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
    monkeypatch.setenv("SUPABASE_KEY", "")  # unset or too short: nothing to hide
    monkeypatch.setenv("DATABASE_URL", url)
    text = config.redact(f"claude: key sk-ant-test-0123456789 refused; {url} is down; "
                         "password authentication failed (pa55-w0rd-91)")
    assert text == "claude: key *** refused; *** is down; password authentication failed (***)"
    assert config.redact("nothing secret here") == "nothing secret here"


def test_command_line_strings_get_schema_types():
    # Snakemake hands nested `--config serper={backoff_seconds: 0.5}` values over as strings.
    loaded = config.validate({**config.load(), "search_only": "true", "count": "3",
                              "serper": {**config.load()["serper"], "backoff_seconds": "0.5"},
                              "query": 2024, "keep": "no"})
    assert loaded["search_only"] is True and loaded["keep"] is False
    assert loaded["count"] == 3
    assert loaded["serper"]["backoff_seconds"] == 0.5
    assert loaded["query"] == "2024"
