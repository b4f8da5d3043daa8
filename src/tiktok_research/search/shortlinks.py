"""Short links (`/t/<code>/`, `vm.tiktok.com/<code>/`, `vt.tiktok.com/<code>/`) → the item they
point to, by following their redirect over plain HTTP, without the browser.

As yt-dlp's `TikTokVMIE` does: a HEAD with User-Agent `facebookexternalhit/1.1` (TikTok
answers a link-preview crawler with the redirect rather than a script page); a GET when the
server refuses HEAD. Redirects are followed by hand, so that only short links on accepted
hosts are ever requested: the first Location that names an item (`search.links.parse_link`)
is the answer, and the item's page itself is not fetched. A link that cannot be resolved
(network error, no redirect, a redirect elsewhere, too many hops) is dropped, logged and
counted; it never fails the search.
"""

from __future__ import annotations

import logging
from urllib.parse import urljoin

import httpx

from tiktok_research.search.links import Hosts, ItemLink, ShortLink, parse_link

log = logging.getLogger("tiktok_research.search")

USER_AGENT = "facebookexternalhit/1.1"
MAX_REDIRECTS = 5
HEAD_REFUSED = {405, 501}


class Unresolved(Exception):
    """Why a short link led to no item."""


class ShortLinkResolver:
    """Resolves short links to `ItemLink`s (None: dropped); each distinct link once."""

    def __init__(self, hosts: Hosts, short_hosts: Hosts, *, timeout: float,
                 max_redirects: int = MAX_REDIRECTS) -> None:
        self.hosts, self.short_hosts = list(hosts), list(short_hosts)
        self.max_redirects = max_redirects
        self.requests_made = 0
        self.results: dict[str, ItemLink | None] = {}
        self._http = httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=timeout,
                                  follow_redirects=False)

    def __enter__(self) -> ShortLinkResolver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    @property
    def dropped(self) -> list[str]:
        """The short links that could not be resolved."""
        return [url for url, item in self.results.items() if item is None]

    def resolve(self, link: ShortLink) -> ItemLink | None:
        if link.url not in self.results:
            try:
                self.results[link.url] = self._follow(link.url)
            except Unresolved as why:
                log.warning("short link %s dropped: %s", link.url, why)
                self.results[link.url] = None
        return self.results[link.url]

    def _follow(self, url: str) -> ItemLink:
        for _ in range(self.max_redirects):
            status, location = self._ask(url)
            if not (300 <= status < 400 and location):
                raise Unresolved(f"{url} answered {status} without a redirect")
            target = urljoin(url, location)
            parsed = parse_link(target, self.hosts, self.short_hosts)
            if isinstance(parsed, ItemLink):
                return parsed
            if not isinstance(parsed, ShortLink):
                raise Unresolved(f"{url} redirects to {target}, not to a TikTok item")
            url = parsed.url  # another short link (e.g. http → https): one more hop
        raise Unresolved(f"more than {self.max_redirects} redirects")

    def _ask(self, url: str) -> tuple[int, str]:
        """(status, Location) of a HEAD, or of a GET when HEAD is refused."""
        try:
            self.requests_made += 1
            response = self._http.head(url)
            if response.status_code in HEAD_REFUSED:
                self.requests_made += 1
                with self._http.stream("GET", url) as response:  # headers only: body unread
                    pass
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise Unresolved(f"{type(error).__name__}: {error}") from None
        return response.status_code, response.headers.get("location", "")
