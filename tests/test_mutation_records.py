"""Config and record helpers that only subprocess or workflow tests reached, or none (found by
`make mutation`): Snakemake's `--config` arguments, null words from the command line, the
one-line config errors, and the order of failure records."""

from __future__ import annotations

import pytest

from tiktok_research import config
from tiktok_research.config import config_arguments
from tiktok_research.records import record_key


def test_config_arguments_are_one_key_value_pair_each() -> None:
    assert config_arguments({}) == []
    assert config_arguments({"workers": 2, "keep": False, "output_dir": "out dir",
                             "serper": {"base_url": "http://127.0.0.1:9/", "attempts": 4},
                             "engines": ["local", "claude"]}) == [
        "workers=2", "keep=false", "output_dir=out dir",
        "serper={attempts: 4, base_url: 'http://127.0.0.1:9/'}", "engines=[local, claude]"]


def test_records_order_by_seq_then_id() -> None:
    records = [{"seq": 20, "id": "b"}, {"seq": 3, "id": "z"}, {"id": "a"},
               {"seq": 20, "id": "a"}, {"seq": None, "id": None}]
    assert [record_key(record) for record in records] == [
        (20, "b"), (3, "z"), (0, "a"), (20, "a"), (0, "")]
    assert sorted(records, key=record_key) == [
        {"seq": None, "id": None}, {"id": "a"}, {"seq": 3, "id": "z"}, {"seq": 20, "id": "a"},
        {"seq": 20, "id": "b"}]


def test_null_words_on_the_command_line_are_null_where_the_schema_allows_it() -> None:
    defaults = config.load()
    for word in ("null", "None", "~", " ", "NULL"):
        assert config.validate({**defaults, "count": word})["count"] is None, word
    # `workers` is an integer and never null: the word stays a word, and is refused
    with pytest.raises(config.ConfigError, match="'workers'"):
        config.validate({**defaults, "workers": "null"})


def test_unknown_keys_are_all_named_with_their_section() -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.load({"serper.zeta": 1, "serper.alpha": 2})
    assert str(caught.value) == ("config: unknown key 'serper.alpha, serper.zeta' "
                                 "(see config/config.schema.yaml for the keys)")
    with pytest.raises(config.ConfigError) as caught:
        config.load({"max_resluts": 5})
    assert "'max_resluts'" in str(caught.value)


def test_an_error_at_the_top_of_the_config_is_named_root() -> None:
    import jsonschema

    [error] = jsonschema.Draft202012Validator({"type": "object"}).iter_errors([])
    assert config.describe(error) == "config key '<root>': [] is not of type 'object'"


def test_a_long_nested_value_stays_one_flow_mapping_on_one_line() -> None:
    url = "http://127.0.0.1:8765/" + "x" * 200
    [argument] = config_arguments({"serper": {"base_url": url, "gl": "us"}})
    assert argument == f"serper={{base_url: '{url}', gl: us}}"


def test_the_job_config_is_named_by_16_hex_digits_and_takes_paths_as_text() -> None:
    from pathlib import Path

    digest, text = config.job_config({"output_dir": Path("out"), "keep": False})
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert text == '{"keep": false, "output_dir": "out"}'


@pytest.mark.parametrize(("url", "login"), [
    ("https://www.tiktok.com/login", True), ("https://www.tiktok.com/login/", True),
    ("https://www.tiktok.com/login?redirect_url=x", True), ("https://www.tiktok.com/", False),
    ("https://www.tiktok.com/@login/video/1", False), ("https://www.tiktok.com/loginx", False),
    ("https://www.tiktok.com/loginX", False),  # only slashes are stripped
])
def test_a_login_redirect_is_known_by_its_last_path_segment(url, login) -> None:
    from tiktok_research.download.page import blocked_reason, parse_page

    assert (blocked_reason("<html></html>", url) == "login") is login
    assert (parse_page("<html></html>", "1", final_url=url).reason == "login") is login


def test_a_nested_config_section_is_one_flow_mapping_on_one_line() -> None:
    """Snakemake takes one `key=value` per argument: a section with sections inside stays one
    YAML flow mapping (block style would put them on lines of their own)."""
    [argument] = config_arguments({"process": {"timeouts": {"transcribe_audio": 60},
                                               "engines": ["local"]}})
    assert argument == "process={engines: [local], timeouts: {transcribe_audio: 60}}"
