"""The images of a photo post (`include_photo_posts`), fetched like a video's bytes.

A photo post's page carries `imagePost.images[].imageURL.urlList` and no playable video. Each
image is fetched by the download's own `Fetcher` (through the page, or outside it with the
browser's cookies and the page as Referer), from an allowed host only (`tiktok.cdn_hosts`, as
a video's sources), within `tiktok.max_video_bytes` per image and for the post as a whole, and
verified (`verify.verify_image`: a JPEG, PNG or WebP within `tiktok.max_pixels`, decoded in an
isolated child) before it is renamed into place as `images/{nnn}.{jpg|png|webp}`. The folder
is filled under another name and renamed when every image is there, so a half-fetched post is
never taken for a whole one.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from tiktok_research.download.item import photo_images
from tiktok_research.download.session import (
    FETCH_ATTEMPTS,
    BrowserSession,
    DownloadRequest,
    DownloadResult,
)
from tiktok_research.download.verify import ImageInfo, over_cap, verify_image
from tiktok_research.errors import (
    DownloadError,
    TransientFetchError,
    UrlRefused,
    VideoUnavailable,
)
from tiktok_research.files import atomic_write_bytes, folder_replaced

log = logging.getLogger("tiktok_research.download")

# TikTok allows 35 images per post; past this many, page data is not believed.
MAX_IMAGES = 100


class ToFile(Protocol):
    async def to_file(self, url: str, target: Path) -> tuple[int, str]: ...


async def _fetch_image(session: BrowserSession, fetcher: ToFile, url: str,
                       part: Path) -> tuple[int, str, ImageInfo]:
    """One image URL with the download's retries and backoff; a refused URL is not retried."""
    retrying = session.retrying(FETCH_ATTEMPTS, (TransientFetchError, TimeoutError),
                                never=(UrlRefused,))
    try:
        async for attempt in retrying:
            with attempt:
                size, via = await fetcher.to_file(url, part)
                info = await asyncio.to_thread(verify_image, part, session.settings.caps)
    except TimeoutError:
        raise TransientFetchError("the image fetch timed out") from None
    return size, via, info


async def download_photo_post(request: DownloadRequest, images_dir: Path,
                              session: BrowserSession, fetcher: ToFile,
                              item: dict[str, Any]) -> DownloadResult:
    """Every image of the post into `images_dir` (the request's); `request.video_path` is left
    empty (a photo post has no video). OverCap when an image, or the post, is over a cap;
    VideoUnavailable (for now) when the post lists no image."""
    images = photo_images(item)
    if not images:  # as a video page without a source: perhaps not for good
        raise VideoUnavailable("no_images", permanent=False)
    if len(images) > MAX_IMAGES:
        log.warning("the photo post lists %d images: the first %d are fetched", len(images),
                    MAX_IMAGES)
        images = images[:MAX_IMAGES]
    caps, allowed = session.settings.caps, session.settings.sources
    target = images_dir
    total, saved, vias = 0, [], set()
    with folder_replaced(target) as staging:
        for index, urls in enumerate(images, start=1):
            errors: list[str] = []
            for url in urls:
                if allowed is not None and not allowed.allows(url):
                    log.warning("image %d on a host outside tiktok.cdn_hosts skipped: %s", index,
                                urlsplit(url).netloc[:100])
                    errors.append("not on an allowed host (https on tiktok.cdn_hosts)")
                    continue
                part = staging / f".{index:03d}.part"
                try:
                    size, via, info = await _fetch_image(session, fetcher, url, part)
                except (TransientFetchError, UrlRefused) as error:
                    errors.append(str(error) or type(error).__name__)
                    log.info("image %d: %s", index, error)
                    continue
                total += size
                if total > caps.max_bytes:
                    raise over_cap("max_video_bytes", caps.max_bytes, total,
                                   f"the photo post's images have {total} bytes")
                name = f"{index:03d}.{info.format}"
                os.replace(part, staging / name)
                vias.add(via)
                saved.append({"file": f"{target.name}/{name}", "bytes": size,
                              "width": info.width, "height": info.height,
                              "host": urlsplit(url).hostname})
                break
            else:
                raise DownloadError(f"image {index} of the photo post could not be had: "
                                    + "; ".join(errors[-3:]), reason="image_failed")
    atomic_write_bytes(request.video_path, b"")  # the rule's output: no video in a photo post
    log.info("%s: photo post, %d images (%d bytes) fetched by the %s", request.video_id,
             len(saved), total, " and ".join(sorted(vias)))
    rendition = {"kind": "image_post", "images": saved,
                 "fetched_by": "page" if vias == {"page"} else "http"}
    return DownloadResult(item, images[0][0], total, session.page_visits, rendition, [])

