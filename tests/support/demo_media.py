"""Demo videos for the process-stage tests: a few generated once per session, with their truth.

The files come from `fakeweb.media.ensure_media` (cached under `.cache/demo-media`), so a
second session reuses them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tiktok_research.fakeweb.catalog import DemoVideo, demo_catalog
from tiktok_research.fakeweb.media import ensure_media


@dataclass(frozen=True)
class DemoMedia:
    video: DemoVideo
    path: Path


@dataclass(frozen=True)
class DemoSet:
    speaking: list[DemoMedia]  # narrated videos with 2, 3 and 5 scenes
    quiet: DemoMedia  # an audio track of silence
    no_audio: DemoMedia  # no audio stream at all

    @property
    def all(self) -> list[DemoMedia]:
        return [*self.speaking, self.quiet, self.no_audio]


def pick_demo_set() -> DemoSet:
    videos = [v for v in demo_catalog().videos.values() if v.kind == "ok"]
    speaking: list[DemoVideo] = []
    for scene_count in (5, 2, 3):
        speaking.append(next(v for v in videos if v.script and len(v.scenes) == scene_count
                             and v not in speaking))
    quiet = next(v for v in videos if v.has_audio and not v.script)
    no_audio = next(v for v in videos if not v.has_audio)
    paths = ensure_media([*speaking, quiet, no_audio])
    return DemoSet(
        speaking=[DemoMedia(v, paths[v.video_id]) for v in speaking],
        quiet=DemoMedia(quiet, paths[quiet.video_id]),
        no_audio=DemoMedia(no_audio, paths[no_audio.video_id]),
    )


@pytest.fixture(scope="session")
def demo_set() -> DemoSet:
    return pick_demo_set()


@pytest.fixture(scope="session")
def demo_catalog_media() -> list[DemoMedia]:
    """Every video of the demo catalog with its generated file (ground truth for all kinds)."""
    videos = list(demo_catalog().videos.values())
    paths = ensure_media(videos)
    return [DemoMedia(video, paths[video.video_id]) for video in videos]


@functools.cache
def _english_normaliser():  # imported lazily: openai-whisper pulls in torch
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalise_words(text: str) -> str:
    """Whisper's English normaliser: case, punctuation, spelled-out numbers ("20" = "twenty")."""
    return _english_normaliser()(text)


def normalise_chars(text: str) -> str:
    """For character accuracy of on-screen text: case and whitespace do not count."""
    return re.sub(r"\s+", " ", text.lower()).strip()
