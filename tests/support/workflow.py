"""Run the real workflow (`snakemake`) in a temporary directory against the fake web."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tiktok_research.config import bundled_whisper_model, config_arguments

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def write_research_list(workdir: Path, queries: list[str]) -> Path:
    path = workdir / "research_list.csv"
    lines = ["query,topic"] + [f'"{q}",test' for q in queries]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def base_config(web_host: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Test defaults: the fake web's host, fast backoff, the bundled tiny.en model."""
    config: dict[str, Any] = {
        "serper": {"backoff_seconds": 0.05},
        "tiktok": {"backoff_seconds": 0.05, "min_page_interval_seconds": 0},
        "publish": {"backoff_seconds": 0.05},
        "whisper_model": bundled_whisper_model(),
    }
    if web_host:
        config["serper"]["base_url"] = f"http://{web_host}"
        config["tiktok"]["hosts"] = [web_host]
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    return config


def run_snakemake(
    workdir: Path,
    config: dict[str, Any],
    *extra: str,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    cores: int = 2,
) -> subprocess.CompletedProcess[str]:
    """`snakemake -s REPO/Snakefile -d workdir --cores N --config ...`, output captured."""
    command = [
        str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(workdir),
        "--cores", str(cores), *extra, "--config", *config_arguments(config),
    ]
    full_env = {**os.environ, "SERPER_API_KEY": "test-serper-key", **(env or {})}
    return subprocess.run(command, cwd=workdir, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
