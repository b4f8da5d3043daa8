"""A photo post's images as its frames: `frames/001_img.jpg`, `002_img.jpg`, … in post order.

The download kept each image as TikTok served it (`images/001.jpg`, `.png` or `.webp`, checked
to be within `tiktok.max_pixels`). Here each is decoded with OpenCV and written as a JPEG
under its frame name, at most `max_frames` of them (the first ones of the post), into a
temporary folder that is renamed into place when complete. It runs in an isolated child
(`isolated.run_isolated`), as scene detection does: a hostile image fails this post alone.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import cv2

from tiktok_research.errors import MediaError
from tiktok_research.files import folder_replaced
from tiktok_research.process.scenes import JPEG_QUALITY, image_frame_name

log = logging.getLogger("tiktok_research.scenes")

IMAGE_NAME = re.compile(r"^(?P<index>\d{3})\.(?:jpg|png|webp)$")


def downloaded_images(images_dir: Path) -> list[Path]:
    """The images the download kept, in post order."""
    found = [path for path in Path(images_dir).iterdir()
             if path.is_file() and IMAGE_NAME.match(path.name)]
    return sorted(found, key=lambda path: path.name)


def write_image_frames(images_dir: Path, frames_dir: Path, max_frames: int) -> list[Path]:
    """Write the post's first `max_frames` images as JPEG frames into `frames_dir`."""
    images_dir, frames_dir = Path(images_dir), Path(frames_dir)
    images = downloaded_images(images_dir)[:max_frames]
    with folder_replaced(frames_dir) as staging:
        names = []
        for index, image in enumerate(images, start=1):
            pixels = cv2.imread(str(image), cv2.IMREAD_COLOR)
            if pixels is None:
                raise MediaError(f"{image.name} of the photo post is not a readable image")
            name = image_frame_name(index)
            if not cv2.imwrite(str(staging / name), pixels,
                               [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise MediaError(f"cannot write {name}")
            names.append(name)
    log.info("%s: %d images, %d frames", images_dir, len(downloaded_images(images_dir)),
             len(names))
    return [frames_dir / name for name in names]
