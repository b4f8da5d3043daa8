"""Scene frames: the first frame plus one frame from inside each detected scene (PySceneDetect).

Detection runs two PySceneDetect detectors over frames downscaled to ~256 px wide: the
ContentDetector (hue, saturation, brightness) and the HistogramDetector (luma histogram). Each
misses cuts the other sees: on the demo videos the ContentDetector alone misses a third of the
cuts between two dark backgrounds, the histogram alone would miss a change of hue at equal
brightness. Cuts from both are merged; scenes shorter than 0.5 s are folded into the previous
one, so two detectors seeing one cut a frame apart cannot make a sliver scene. The frame
kept for a scene is taken a little after its cut (up to 1 s, at most a third of the scene), so
it shows the scene itself rather than a transition. Frames are written as
`{nnn}_t{seconds:.1f}s.jpg` into a temporary directory that is renamed into place when complete.
(A photo post's images are its frames, `{nnn}_img.jpg`, without a time: process/photos.py.)
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
from scenedetect import ContentDetector, HistogramDetector, SceneManager, open_video

from tiktok_research.errors import MediaError
from tiktok_research.files import folder_replaced

log = logging.getLogger("tiktok_research.scenes")

FRAME_NAME = re.compile(r"^(?P<index>\d{3})_t(?P<seconds>\d+\.\d)s\.jpg$")
# A photo post's image as a frame (process/photos.py): it has an index, no time.
IMAGE_FRAME_NAME = re.compile(r"^(?P<index>\d{3})_img\.jpg$")
DEFAULT_MAX_FRAMES = 20
INSIDE_OFFSET_SECONDS = 1.0
MIN_SCENE_SECONDS = 0.5
JPEG_QUALITY = 90


@dataclass(frozen=True)
class SceneSpan:
    start_frame: int
    end_frame: int  # exclusive
    fps: float

    @property
    def start(self) -> float:
        return self.start_frame / self.fps

    @property
    def end(self) -> float:
        return self.end_frame / self.fps

    def pick_frame(self, first: bool) -> int:
        """The frame shown for this scene: the very first frame of the video, or one inside."""
        if first:
            return self.start_frame
        length = self.end_frame - self.start_frame
        offset = min(round(INSIDE_OFFSET_SECONDS * self.fps), length // 3)
        return self.start_frame + offset


def frame_name(index: int, seconds: float) -> str:
    return f"{index:03d}_t{seconds:.1f}s.jpg"


def image_frame_name(index: int) -> str:
    return f"{index:03d}_img.jpg"


def parse_frame_name(name: str) -> tuple[int, float | None] | None:
    """`(index, seconds)` from `003_t12.5s.jpg`, `(index, None)` from a photo post's
    `003_img.jpg`, None for anything else."""
    match = FRAME_NAME.match(name)
    if match:
        return int(match["index"]), float(match["seconds"])
    image = IMAGE_FRAME_NAME.match(name)
    return (int(image["index"]), None) if image else None


def detect_scenes(video: Path, threshold: float = 27.0) -> list[SceneSpan]:
    """The scenes of `video`, the whole video being one scene when there is no cut."""
    try:
        stream = open_video(str(video), backend="opencv")
        fps = float(stream.frame_rate)
        manager = SceneManager()
        manager.auto_downscale = True  # detection on ~256 px wide frames
        min_frames = max(1, round(MIN_SCENE_SECONDS * fps))
        manager.add_detector(ContentDetector(threshold=threshold, min_scene_len=min_frames))
        manager.add_detector(HistogramDetector(min_scene_len=min_frames))
        manager.detect_scenes(stream)
        scene_list = manager.get_scene_list(start_in_scene=True)
    except Exception as error:  # PySceneDetect raises several types for unreadable files
        raise MediaError(
            f"cannot decode {Path(video).name} for scene detection: {error}") from error
    if not scene_list:
        raise MediaError(f"{Path(video).name} has no decodable frames")
    spans = [SceneSpan(start.frame_num, end.frame_num, fps) for start, end in scene_list]
    return merge_short_scenes(spans, min_frames)


def merge_short_scenes(scenes: list[SceneSpan], min_frames: int) -> list[SceneSpan]:
    """Fold scenes shorter than `min_frames` into the scene before them."""
    merged: list[SceneSpan] = []
    for scene in scenes:
        if merged and scene.end_frame - scene.start_frame < min_frames:
            last = merged.pop()
            scene = SceneSpan(last.start_frame, scene.end_frame, scene.fps)
        merged.append(scene)
    return merged


def cap_scenes(scenes: list[SceneSpan], max_frames: int) -> list[SceneSpan]:
    """At most `max_frames` scenes: the first, then the longest others, in time order."""
    if len(scenes) <= max_frames:
        return scenes
    others = sorted(scenes[1:], key=lambda s: s.end_frame - s.start_frame, reverse=True)
    kept = [scenes[0], *others[: max(0, max_frames - 1)]]
    return sorted(kept, key=lambda s: s.start_frame)


def write_scene_frames(video: Path, frames_dir: Path,
                       max_frames: int = DEFAULT_MAX_FRAMES) -> list[Path]:
    """Detect scenes and write one JPEG per scene into `frames_dir` (created atomically)."""
    video, frames_dir = Path(video), Path(frames_dir)
    scenes = cap_scenes(detect_scenes(video), max_frames)
    with folder_replaced(frames_dir) as staging:
        capture = cv2.VideoCapture(str(video))
        try:
            names = []
            for index, scene in enumerate(scenes, start=1):
                frame_number = scene.pick_frame(first=index == 1)
                capture.set(cv2.CAP_PROP_POS_FRAMES, frame_number)
                ok, image = capture.read()
                if not ok:
                    raise MediaError(f"cannot read frame {frame_number} of {video.name}")
                name = frame_name(index, frame_number / scene.fps)
                if not cv2.imwrite(str(staging / name), image,
                                   [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                    raise MediaError(f"cannot write {name}")
                names.append(name)
        finally:
            capture.release()
    log.info("%s: %d scenes, %d frames", video.name, len(scenes), len(names))
    return [frames_dir / name for name in names]


def list_frames(frames_dir: Path) -> list[tuple[Path, int, float | None]]:
    """`(path, index, seconds)` of every correctly named frame, in index order."""
    found = []
    for path in Path(frames_dir).iterdir():
        parsed = parse_frame_name(path.name)
        if parsed:
            found.append((path, *parsed))
    return sorted(found, key=lambda item: item[1])
