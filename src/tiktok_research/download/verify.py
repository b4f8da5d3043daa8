"""Is a downloaded file a whole, decodable video within the caps? MP4 boxes from `ftyp` to the
end, then PyAV finds a video stream with a duration, then its duration and frame size are held
against the configured caps. A partial file or an HTML error page saved as `.mp4` fails here,
before it is renamed into place. A photo post's image alike (`verify_image`): a JPEG, PNG or
WebP by its header, its size within `tiktok.max_pixels` before any decoder sees it, then decoded
whole in the same isolated child."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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


# A photo post's image is read by its header, in this process and without a decoder, so that its
# size is held against `tiktok.max_pixels` before FFmpeg sees a pixel (FFmpeg decodes while it
# probes a file).
JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
JPEG_BARE = {0x01, *range(0xD0, 0xDA)}  # markers without a length


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str  # jpg, png or webp: the suffix it is kept under


def _jpeg_size(handle: BinaryIO) -> tuple[int, int]:
    handle.seek(2)
    while True:
        byte = handle.read(1)
        if not byte:
            break
        if byte != b"\xff":
            continue
        marker = handle.read(1)
        while marker == b"\xff":  # fill bytes
            marker = handle.read(1)
        if not marker or marker[0] in JPEG_BARE:
            continue
        segment = handle.read(2)
        if len(segment) < 2:
            break
        length = int.from_bytes(segment, "big")
        if marker[0] in JPEG_SOF:
            header = handle.read(5)
            if len(header) == 5:
                return int.from_bytes(header[3:5], "big"), int.from_bytes(header[1:3], "big")
            break
        handle.seek(length - 2, 1)
    raise BadVideo("the JPEG has no frame header", reason="not_an_image")


def image_header(path: Path) -> ImageInfo:
    """The format and size of a JPEG, PNG or WebP file from its header; BadVideo for anything
    else (an HTML error page, a video) or a header cut short."""
    with open(path, "rb") as handle:
        head = handle.read(32)
        if head.startswith(b"\xff\xd8\xff"):
            width, height = _jpeg_size(handle)
            return ImageInfo(width, height, "jpg")
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return ImageInfo(int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"),
                         "png")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and len(head) >= 30:
        chunk = head[12:16]
        if chunk == b"VP8 ":
            return ImageInfo(int.from_bytes(head[26:28], "little") & 0x3FFF,
                             int.from_bytes(head[28:30], "little") & 0x3FFF, "webp")
        if chunk == b"VP8L":
            bits = int.from_bytes(head[21:25], "little")
            return ImageInfo(1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF), "webp")
        if chunk == b"VP8X":
            return ImageInfo(1 + int.from_bytes(head[24:27], "little"),
                             1 + int.from_bytes(head[27:30], "little"), "webp")
    raise BadVideo("not an image (neither JPEG, PNG nor WebP)", reason="not_an_image")


def decode_image(path: Path) -> tuple[int, int]:
    """The size of the image's first frame, decoded whole (a cut or corrupt file fails)."""
    import av

    try:
        with av.open(str(path), timeout=PROBE_TIMEOUT_SECONDS) as container:
            frame = next(container.decode(video=0), None)
    except (av.FFmpegError, OSError) as error:
        reason = getattr(error, "strerror", None) or " ".join(str(error).split())[:200]
        raise BadVideo(f"FFmpeg cannot read the image: {reason}", reason="not_an_image") from None
    if frame is None:
        raise BadVideo("the image has no pixels", reason="not_an_image")
    return frame.width, frame.height


def verify_image(path: Path, caps: Caps | None = None) -> ImageInfo:
    """A whole JPEG, PNG or WebP within `tiktok.max_pixels` (read from its header, before it is
    decoded), then decoded in an isolated child (a hostile file fails this image, never the
    worker) to the size its header gave; BadVideo or OverCap else."""
    info = image_header(path)
    limit = (caps or Caps()).max_pixels
    if info.width * info.height > limit:
        raise over_cap("max_pixels", limit, info.width * info.height,
                       f"an image is {info.width}×{info.height}")
    if info.width <= 0 or info.height <= 0:
        raise BadVideo("the image header gives no size", reason="not_an_image")
    decoded = run_isolated(decode_image, (path,), VERIFY_LIMITS, path, failure=BadVideo)
    if decoded != (info.width, info.height):
        raise BadVideo(f"the image decodes to {decoded[0]}×{decoded[1]}, not the "
                       f"{info.width}×{info.height} its header gives", reason="not_an_image")
    return info
