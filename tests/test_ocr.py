"""On-screen text of generated demo frames: local RapidOCR accuracy, and the Claude engine
against the fake Messages API (request shape, retries, authentication, token usage)."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import httpx
import jiwer
import pytest
from support import demo_media
from support.demo_media import DemoMedia, normalise_chars

from tiktok_research import config as config_module
from tiktok_research.errors import MissingSecret, OcrAuthError, OcrError
from tiktok_research.fakeweb.server import FakeWeb
from tiktok_research.process.ocr import load_engine, ocr_frames
from tiktok_research.process.ocr.claude import PROMPT, parse_answer
from tiktok_research.process.scenes import list_frames, write_scene_frames
from tiktok_research.process.steps import step_ocr_frames
from tiktok_research.records import error_record

demo_catalog_media = demo_media.demo_catalog_media  # the session fixture
API_KEY = "sk-ant-test-0123456789"
MIN_CHARACTER_ACCURACY = 0.90


@pytest.fixture(scope="module")
def scene_frames(demo_catalog_media: list[DemoMedia],
                 tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Frames of every demo video, once per module: {video_id: (media, frames_dir)}."""
    root = tmp_path_factory.mktemp("frames")
    made = {}
    for media in demo_catalog_media:
        frames_dir = root / media.video.video_id / "frames"
        write_scene_frames(media.path, frames_dir)
        made[media.video.video_id] = (media, frames_dir)
    return made


def job_config(tmp_path: Path, **ocr: object) -> dict:
    return config_module.load({"output_dir": str(tmp_path / "output"), "ocr": ocr})


def run_ocr_frames(config: dict, frames_dir: Path, target: Path) -> dict:
    """The process step `ocr_frames` with the configured engine (one engine per video)."""
    return step_ocr_frames(load_engine(config), frames_dir, target)


def text_by_frame(document: dict) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    for item in document["items"]:
        found.setdefault(item["frame"], []).append(item["text"])
    return {frame: " ".join(texts) for frame, texts in found.items()}


def test_local_engine_finds_every_overlay_text(scene_frames: dict, tmp_path: Path) -> None:
    config = job_config(tmp_path, engine="local")
    engine = load_engine(config)  # once for every video, as a job loads it once
    accuracies = []
    for media, frames_dir in scene_frames.values():
        document = ocr_frames(frames_dir, engine)
        assert document["engine"] == "local"
        assert document["scenes"] == len(media.video.scenes)
        found = text_by_frame(document)
        for (path, _index, _seconds), scene in zip(list_frames(frames_dir), media.video.scenes):
            assert path.name in found, (media.video.video_id, scene.text)
            accuracy = 1 - jiwer.cer(normalise_chars(scene.text), normalise_chars(found[path.name]))
            accuracies.append(accuracy)
            assert accuracy >= MIN_CHARACTER_ACCURACY, (scene.text, found[path.name])
        for item in document["items"]:
            assert 0.5 <= item["confidence"] <= 1
            assert item["t"] == next(s for p, _i, s in list_frames(frames_dir)
                                     if p.name == item["frame"])
    assert sum(accuracies) / len(accuracies) >= 0.97


def test_run_ocr_frames_writes_ocr_json(scene_frames: dict, tmp_path: Path) -> None:
    media, frames_dir = next(iter(scene_frames.values()))
    target = tmp_path / "ocr.json"
    run_ocr_frames(job_config(tmp_path, engine="local"), frames_dir, target)
    document = json.loads(target.read_text(encoding="utf-8"))
    assert set(document) >= {"items", "scenes", "engine"}
    assert document["scenes"] == len(media.video.scenes)
    assert all(set(item) == {"frame", "t", "text", "confidence"} for item in document["items"])


# --- Claude ------------------------------------------------------------------------------------

@pytest.fixture
def claude_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


def claude_config(tmp_path: Path, web: FakeWeb, **extra: object) -> dict:
    return job_config(tmp_path, engine="claude", base_url=web.base_url, **extra)


def test_claude_requests_follow_the_reference_and_usage_is_summed(
        scene_frames: dict, fake_web: FakeWeb, claude_env: None, tmp_path: Path) -> None:
    media, frames_dir = next(iter(scene_frames.values()))
    target = tmp_path / "ocr.json"
    run_ocr_frames(claude_config(tmp_path, fake_web), frames_dir, target)

    frames = list_frames(frames_dir)
    requests = fake_web.requests_to("anthropic")
    assert len(requests) == len(frames)  # one image per request
    for request, (path, _index, _seconds) in zip(requests, frames):
        assert request.method == "POST" and request.path == "/v1/messages"
        assert request.header("x-api-key") == API_KEY
        assert request.header("anthropic-version") == "2023-06-01"
        body = request.json()
        assert body["model"] == "claude-haiku-4-5"
        assert body["max_tokens"] == 1024
        [message] = body["messages"]
        assert message["role"] == "user"
        image, text = message["content"]
        assert image["type"] == "image"
        assert image["source"]["type"] == "base64"
        assert image["source"]["media_type"] == "image/jpeg"
        assert base64.b64decode(image["source"]["data"]) == path.read_bytes()
        assert text == {"type": "text", "text": PROMPT}

    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["engine"] == "claude" and document["model"] == "claude-haiku-4-5"
    assert [item["text"] for item in document["items"]] == [s.text for s in media.video.scenes]
    assert all(item["confidence"] is None for item in document["items"])
    # The fake bills each 576x1024 frame as Anthropic estimates images (w*h/750) plus the prompt,
    # and the answer at ~4 characters a token: the document holds the sum over all requests.
    per_image = math.ceil(576 * 1024 / 750) + len(PROMPT) // 4
    answers = [json.dumps({"items": [{"text": s.text}]}) for s in media.video.scenes]
    assert document["usage"] == {
        "input_tokens": per_image * len(frames),
        "output_tokens": sum(max(1, len(answer) // 4) for answer in answers),
        "requests": len(frames),
    }


@pytest.mark.parametrize("status", [429, 529])
def test_claude_retries_rate_limits_and_overload(status: int, scene_frames: dict,
                                                 fake_web: FakeWeb, claude_env: None,
                                                 tmp_path: Path) -> None:
    media, frames_dir = next(iter(scene_frames.values()))
    first_frame = list_frames(frames_dir)[0][0]
    fake_web.fail("anthropic", status, headers={"retry-after": "0"})
    engine = load_engine(claude_config(tmp_path, fake_web))
    assert [item.text for item in engine.read(first_frame)] == [media.video.scenes[0].text]
    assert len(fake_web.requests_to("anthropic")) == 2
    assert engine.usage.requests == 1


def test_claude_gives_up_after_its_retries(scene_frames: dict, fake_web: FakeWeb,
                                          claude_env: None, tmp_path: Path) -> None:
    _media, frames_dir = next(iter(scene_frames.values()))
    fake_web.fail("anthropic", 429, times=None, headers={"retry-after": "0"})
    engine = load_engine(claude_config(tmp_path, fake_web, max_retries=1))
    with pytest.raises(OcrError, match="429"):
        engine.read(list_frames(frames_dir)[0][0])
    assert len(fake_web.requests_to("anthropic")) == 2


@pytest.mark.parametrize("how", ["injected", "bad key"])
def test_claude_401_is_one_clear_error_without_retries(how: str, scene_frames: dict,
                                                       fake_web: FakeWeb, claude_env: None,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    media, frames_dir = next(iter(scene_frames.values()))
    if how == "injected":
        fake_web.fail("anthropic", 401)
    else:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-invalid")
    target = tmp_path / "ocr.json"
    with pytest.raises(OcrAuthError, match="ANTHROPIC_API_KEY") as raised:
        run_ocr_frames(claude_config(tmp_path, fake_web), frames_dir, target)
    error = raised.value
    assert "401" in str(error)
    assert (error.kind, error.reason, error.retryable) == ("process", "authentication", False)
    assert len(fake_web.requests_to("anthropic")) == 1  # not retried, not tried on other frames
    assert not target.exists()
    # The record the runtime makes of it.
    record = error_record(error, {"video_id": media.video.video_id}, attempt=1,
                          default_type="process")
    assert record["type"] == "process" and "ANTHROPIC_API_KEY" in record["error"]
    assert API_KEY not in json.dumps(record)


def test_claude_without_a_key_names_the_variable(fake_web: FakeWeb, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    with pytest.raises(MissingSecret, match="ANTHROPIC_API_KEY"):
        load_engine(claude_config(tmp_path, fake_web))


def test_fake_messages_api_checks_headers_and_body(fake_web: FakeWeb) -> None:
    url = f"{fake_web.base_url}/v1/messages"
    body = {"model": "claude-haiku-4-5", "max_tokens": 16,
            "messages": [{"role": "user", "content": "hello"}]}
    no_version = httpx.post(url, json=body, headers={"x-api-key": API_KEY})
    assert no_version.status_code == 400
    assert no_version.json()["error"]["type"] == "invalid_request_error"
    no_key = httpx.post(url, json=body, headers={"anthropic-version": "2023-06-01"})
    assert no_key.status_code == 401
    assert set(no_key.json()) == {"type", "error", "request_id"}
    assert no_key.json()["error"]["type"] == "authentication_error"
    bad_body = httpx.post(url, json={**body, "max_tokens": 0},
                          headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"})
    assert bad_body.status_code == 400
    fake_web.fail("anthropic", 529)
    overloaded = httpx.post(url, json=body,
                            headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"})
    assert overloaded.status_code == 529
    assert overloaded.json()["error"] == {"type": "overloaded_error", "message": "Overloaded"}


def test_answers_are_parsed_into_text_items() -> None:
    assert [i.text for i in parse_answer('```json\n{"items": [{"text": "Hi  there"}]}\n```')] \
        == ["Hi there"]
    assert parse_answer('{"items": []}') == []
    assert [i.text for i in parse_answer("First line\nSecond line")] == ["First line",
                                                                         "Second line"]


def test_claude_base_url_from_the_environment(scene_frames: dict, fake_web: FakeWeb,
                                              claude_env: None, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    media, frames_dir = next(iter(scene_frames.values()))
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_web.base_url)
    engine = load_engine(job_config(tmp_path, engine="claude"))  # ocr.base_url: null
    assert [i.text for i in engine.read(list_frames(frames_dir)[0][0])] \
        == [media.video.scenes[0].text]
    assert len(fake_web.requests_to("anthropic")) == 1
