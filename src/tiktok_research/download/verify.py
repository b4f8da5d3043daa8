"""Is a downloaded file a whole, decodable video within the caps? MP4 boxes from `ftyp` to the
end, then PyAV finds a video stream with a duration, then its duration and frame size are held
against the configured caps. A partial file or an HTML error page saved as `.mp4` fails here,
before it is renamed into place. A photo post's image alike (`verify_image`): a JPEG, PNG or
WebP by its first bytes, its size within `tiktok.max_pixels` before it is decoded, then decoded
whole, in the same isolated child."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tiktok_research.errors import BadVideo, OverCap
from tiktok_research.isolated import Limits, preload, run_isolated

PROBE_TIMEOUT_SECONDS = 120


def check_mp4_boxes(path: Path) -> None:
    """The file starts with `ftyp` and its top-level boxes end exactly at its end (not cut)."""
    size = path.stat().st_size
    seen: list[str] = []
    with open(path, "rb") as handle:
        offset = 0
        while offset < size:
            handle.seek(offset)
            header = handle.read(16)
            if len(header) < 8:
                raise BadVideo(f"MP4 box header cut at byte {offset}")
            box_size = int.from_bytes(header[:4], "big")
            box_type = header[4:8].decode("latin-1")
            if box_size == 1:
                if len(header) < 16:
                    raise BadVideo(f"MP4 box header cut at byte {offset}")
                box_size = int.from_bytes(header[8:16], "big")
            elif box_size == 0:
                box_size = size - offset
            if not seen and box_type != "ftyp":
                raise BadVideo("not an MP4 file (no ftyp box at the start)")
            if box_size < 8 or offset + box_size > size:
                raise BadVideo(f"MP4 box {box_type!r} runs past the end of the file (truncated)")
            seen.append(box_type)
            offset += box_size
    for needed in ("moov", "mdat"):
        if needed not in seen:
            raise BadVideo(f"MP4 file has no {needed!r} box")


@dataclass(frozen=True)
class VideoInfo:
    """What the file holds, read from its streams."""

    duration: float
    width: int
    height: int
    codec: str
    has_audio: bool


def probe_video(path: Path) -> VideoInfo:
    """The streams of a file with a video stream (PyAV, in this process: an ffprobe process
    per download costs more CPU than the rest of the check); BadVideo otherwise."""
    import av

    try:
        # FFmpeg's interrupt callback gives up on a hostile file that stalls the demuxer.
        with av.open(str(path), timeout=PROBE_TIMEOUT_SECONDS) as container:
            videos = list(container.streams.video)
            has_audio = bool(container.streams.audio)
            duration = (container.duration / av.time_base if container.duration else 0.0)
            if not duration and videos and videos[0].duration and videos[0].time_base:
                duration = float(videos[0].duration * videos[0].time_base)
            first = videos[0] if videos else None
            size = (first.codec_context.width, first.codec_context.height) if first else (0, 0)
            codec = first.codec_context.name if first else ""
    except (av.FFmpegError, OSError) as error:
        reason = getattr(error, "strerror", None) or " ".join(str(error).split())[:200]
        raise BadVideo(f"FFmpeg cannot read the file: {reason}") from None
    if not videos:
        raise BadVideo("no video stream in the file")
    if duration <= 0:
        raise BadVideo("the video has no duration")
    return VideoInfo(float(duration), int(size[0]), int(size[1]), codec, has_audio)


@dataclass(frozen=True)
class Caps:
    """Limits on one video (config `tiktok.*`); a video over one is `OverCap`, naming its key."""

    max_bytes: int = 512 * 1024 * 1024  # tiktok.max_video_bytes
    max_duration: float = 3600.0  # tiktok.max_duration_seconds
    max_pixels: int = 4096 * 4096  # tiktok.max_pixels
    deadline: float = 900.0  # tiktok.download_deadline_seconds

    def check_size(self, size: int, what: str) -> None:
        if size > self.max_bytes:
            raise over_cap("max_video_bytes", self.max_bytes, size, f"{what} {size} bytes")

    def check(self, info: VideoInfo) -> None:
        if info.duration > self.max_duration:
            raise over_cap("max_duration_seconds", self.max_duration, info.duration,
                           f"the video lasts {info.duration:.0f} s")
        if info.width * info.height > self.max_pixels:
            raise over_cap("max_pixels", self.max_pixels, info.width * info.height,
                           f"its frames are {info.width}×{info.height}")


def over_cap(key: str, limit: float, value: float, what: str) -> OverCap:
    return OverCap(f"{what}, over tiktok.{key} ({limit:g})", reason=f"over_{key}",
                   details={"cap": f"tiktok.{key}", "limit": limit, "value": value})


# The header check of a downloaded file, in an isolated child: a file that crashes or stalls
# the demuxer fails this source (BadVideo: the next one is tried), never the worker.
VERIFY_LIMITS = Limits(PROBE_TIMEOUT_SECONDS, 4096, f"the check's {PROBE_TIMEOUT_SECONDS} s")
preload("av", __name__)


def verify_video(path: Path, caps: Caps | None = None) -> VideoInfo:
    check_mp4_boxes(path)
    info = run_isolated(probe_video, (path,), VERIFY_LIMITS, path, failure=BadVideo)
    (caps or Caps()).check(info)
    return info


# A photo post's image, by its first bytes: the file suffix it is kept under.
IMAGE_SIGNATURES = ((b"\xff\xd8\xff", "jpg"), (b"\x89PNG\r\n\x1a\n", "png"))


def image_format(path: Path) -> str:
    """`jpg`, `png` or `webp` from the file's first bytes; BadVideo for anything else (an HTML
    error page, a video)."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    for signature, suffix in IMAGE_SIGNATURES:
        if head.startswith(signature):
            return suffix
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    raise BadVideo("not an image (neither JPEG, PNG nor WebP)", reason="not_an_image")


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str  # jpg, png or webp


def probe_image(path: Path, max_pixels: int) -> tuple[int, int]:
    """The image's size, read from its header and held against `max_pixels` before its pixels
    are decoded; then it is decoded whole (a cut or corrupt file fails)."""
    import av

    try:
        with av.open(str(path), timeout=PROBE_TIMEOUT_SECONDS) as container:
            if not container.streams.video:
                raise BadVideo("no image in the file", reason="not_an_image")
            context = container.streams.video[0].codec_context
            width, height = int(context.width), int(context.height)
            if width * height > max_pixels:
                raise over_cap("max_pixels", max_pixels, width * height,
                               f"an image is {width}×{height}")
            frame = next(container.decode(video=0), None)
    except (av.FFmpegError, OSError) as error:
        reason = getattr(error, "strerror", None) or " ".join(str(error).split())[:200]
        raise BadVideo(f"FFmpeg cannot read the image: {reason}", reason="not_an_image") from None
    if frame is None or width <= 0 or height <= 0:
        raise BadVideo("the image has no pixels", reason="not_an_image")
    return width, height


def verify_image(path: Path, caps: Caps | None = None) -> ImageInfo:
    """A whole image of a known format within `tiktok.max_pixels`, decoded in an isolated
    child (a hostile file fails this image, never the worker); BadVideo or OverCap else."""
    suffix = image_format(path)
    width, height = run_isolated(probe_image, (path, (caps or Caps()).max_pixels),
                                 VERIFY_LIMITS, path, failure=BadVideo)
    return ImageInfo(width, height, suffix)
