from __future__ import annotations

from pathlib import Path

import pytest

from importer.config import Settings, describe_settings, load_settings
from importer.errors import ConfigError

TOKEN = "pit-secret-value-that-must-not-leak"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    settings = load_settings(config_path=write(tmp_path, ""), environ={})
    assert settings.target == "sandbox"
    assert settings.api_version == "2021-07-28"
    assert settings.token_env == "LEADWAY_TOKEN"
    assert (settings.rate_limit.max_requests, settings.rate_limit.window_seconds) == (100, 10.0)
    assert settings.rate_limit.daily_limit == 200_000
    assert settings.token is None


def test_flag_beats_environment_beats_file(tmp_path: Path) -> None:
    path = write(tmp_path, "location_id: fromFile\nassociation: file_assoc\nconcurrency: 3\n")
    environ = {"RELIMPORT_LOCATION_ID": "fromEnv", "RELIMPORT_CONCURRENCY": "5"}
    settings = load_settings(
        config_path=path, environ=environ, flags={"location_id": "fromFlag", "concurrency": None}
    )
    assert settings.location_id == "fromFlag"
    assert settings.concurrency == 5
    assert settings.association == "file_assoc"


def test_the_token_comes_from_the_named_variable_and_never_shows(tmp_path: Path) -> None:
    path = write(tmp_path, "token_env: MY_TOKEN\n")
    settings = load_settings(config_path=path, environ={"MY_TOKEN": TOKEN})
    assert settings.token is not None
    assert settings.token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings)
    assert TOKEN not in settings.model_dump_json()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("concurrency: lots\n", "'concurrency': Input should be a valid integer"),
        ("rate_limit:\n  max_requests: 0\n", "'rate_limit.max_requests': Input should be greater"),
        ("locaton_id: x\n", "'locaton_id': unknown key (did you mean 'location_id')."),
        ("colour: x\n", "'colour': unknown key (check the spelling"),
        ("retry: {max_attempt: 3}\n", "'retry.max_attempt': unknown key (did you mean "),
        ("target: ftp://x\n", "'target': expected 'sandbox' or a URL"),
        ("target: http://crm.example.com\n", "plain http:// is only allowed for 127.0.0.1"),
        ("api_version: '2020'\n", "'api_version': expected one of 2021-07-28"),
        ("token: abc\n", "key 'token': the token is never read from the config file"),
        ("- a\n- b\n", "expected keys and values"),
        ("a: [\n", "not valid YAML at line 2"),
    ],
)
def test_an_invalid_config_names_the_file_and_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config_path=path, environ={})
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(config_path=write(tmp_path, ""), environ={"RELIMPORT_CONCURRENCY": "0"})
    assert str(caught.value) == (
        "the environment variable RELIMPORT_CONCURRENCY: "
        "Input should be greater than or equal to 1 (got '0')."
    )


def test_a_bad_flag_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--base-url: plain http://"):
        load_settings(config_path=write(tmp_path, ""), environ={}, flags={"target": "http://a.b"})


@pytest.mark.parametrize("token", ["pit-abcé123", "pit abc", "pit-abc\ndef", "“pit-abc”"])
def test_a_mangled_token_is_refused_without_being_echoed(tmp_path: Path, token: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(config_path=write(tmp_path, ""), environ={"LEADWAY_TOKEN": token})
    assert "contains characters no token has" in str(caught.value)
    assert "abc" not in str(caught.value)


def test_a_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_path=tmp_path / "nope.yaml", environ={})


def test_loopback_http_is_allowed_and_trailing_slash_dropped() -> None:
    assert Settings(target="http://127.0.0.1:8080/").target == "http://127.0.0.1:8080"


def test_the_shipped_config_yaml_is_valid_and_documents_every_top_level_key() -> None:
    shipped = Path(__file__).resolve().parents[1] / "config.yaml"
    settings = load_settings(config_path=shipped, environ={})
    assert settings.association == "student_teacher"
    text = shipped.read_text(encoding="utf-8")
    for key, *_ in describe_settings():
        top = key.split(".")[0]
        if top not in ("sheet", "encoding"):
            assert f"{top}:" in text, key


@pytest.mark.parametrize(
    ("text", "mode", "warned"),
    [
        ("# token: pit-1a2b3c4d-1111-4222-8333-444455556666\n", 0o644, True),
        ("# token: pit-1a2b3c4d-1111-4222-8333-444455556666\n", 0o600, False),
        ("location_id: abc\n", 0o644, False),
    ],
)
def test_a_config_holding_a_token_readable_by_others_gets_a_warning(
    tmp_path: Path, text: str, mode: int, warned: bool
) -> None:
    path = write(tmp_path, text)
    path.chmod(mode)
    settings = load_settings(config_path=path, environ={})
    assert bool(settings.notices) is warned
    if warned:
        assert settings.notices[0].endswith(f"run: chmod 600 {path}")
        assert "1a2b3c4d" not in settings.notices[0]


def test_the_same_column_on_both_sides_names_where_it_was_set(tmp_path: Path) -> None:
    path = write(tmp_path, "first_column: ID\nsecond_column: ID\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config_path=path, environ={})
    assert str(caught.value) == (
        f"{path}: first_column and second_column are both 'ID'; "
        "each side of the relation needs its own column."
    )


def test_state_dir_defaults_beside_the_config_file_and_reads_relative_paths_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    config = folder / "config.yaml"
    config.write_text("location_id: L1\n", encoding="utf-8")
    assert load_settings(config_path=config, environ={}).state_folder == folder / ".relimport"
    config.write_text("state_dir: state\n", encoding="utf-8")
    assert load_settings(config_path=config, environ={}).state_folder == folder / "state"
    flagged = load_settings(config_path=config, flags={"state_dir": Path("x")}, environ={})
    assert flagged.state_folder == Path("x")  # a flag is read from the current folder
    monkeypatch.chdir(tmp_path)  # no config.yaml here: the current folder
    assert load_settings(environ={}).state_folder == Path(".relimport")
