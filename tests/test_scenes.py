"""Scene frames on generated demo videos: one per scene, from inside it, named as promised."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import demo_media
from support.demo_media import DemoMedia, DemoSet

from tiktok_research.errors import MediaError
from tiktok_research.process.scenes import list_frames, parse_frame_name, write_scene_frames

demo_set = demo_media.demo_set  # session fixtures
demo_catalog_media = demo_media.demo_catalog_media


def test_one_frame_per_generated_scene_inside_its_span(demo_catalog_media: list[DemoMedia],
                                                       tmp_path: Path) -> None:
    for media in demo_catalog_media:
        frames_dir = tmp_path / media.video.video_id / "frames"
        written = write_scene_frames(media.path, frames_dir)
        assert [p.name for p in written] == sorted(p.name for p in frames_dir.iterdir())
        frames = list_frames(frames_dir)
        scenes = media.video.scenes
        assert len(frames) == len(scenes), media.video.video_id
        for (path, index, seconds), scene in zip(frames, scenes):
            assert parse_frame_name(path.name) == (index, seconds)
            assert scene.start <= seconds < scene.end, (path.name, scene)
        assert frames[0][0].name == "001_t0.0s.jpg"  # the first frame of the video
        # Later frames sit past their cut, not on the transition itself.
        assert all(seconds > scene.start for (_p, _i, seconds), scene
                   in zip(frames[1:], scenes[1:]))


def test_frame_cap_keeps_the_first_frame_and_the_longest_scenes(demo_set: DemoSet,
                                                                tmp_path: Path) -> None:
    media = demo_set.speaking[0]  # five scenes
    frames = write_scene_frames(media.path, tmp_path / "frames", max_frames=3)
    assert len(frames) == 3
    assert frames[0].name == "001_t0.0s.jpg"
    longest = sorted(media.video.scenes[1:], key=lambda s: s.end - s.start)[-2:]
    kept = [parse_frame_name(p.name)[1] for p in frames[1:]]
    for scene in longest:
        assert any(scene.start <= t < scene.end for t in kept)


def test_corrupt_video_fails_without_leaving_a_frames_directory(tmp_path: Path) -> None:
    corrupt = tmp_path / "video.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x13" * 50_000)
    with pytest.raises(MediaError):
        write_scene_frames(corrupt, tmp_path / "frames")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["video.mp4"]
