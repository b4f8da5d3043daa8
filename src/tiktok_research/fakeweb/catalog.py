"""The demo catalog: the videos the fake web serves, their metadata and their ground truth.

Deterministic from a seed, so tests, the demo and the benchmark agree on what exists. The
ground truth (spoken script, scene start times, overlay texts) is what process-stage tests
compare against; media files are generated from it by `fakeweb.media`.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass, field
from typing import Any

# Page outcomes the fake TikTok site can serve for a video.
KINDS = (
    "ok",  # a normal video page and playable bytes
    "legacy",  # ok, but the page carries SIGI_STATE instead of the rehydration script
    "private",  # statusCode 10216
    "private_account",  # statusCode 10222
    "unavailable",  # statusCode 10204
    "other_status",  # statusCode 10101: some other not-available code
    "photo",  # imagePost, no playable video
    "deleted",  # page 404 without item data
    "html_as_video",  # the CDN answers an HTML page with 200
    "truncated",  # the CDN answers a truncated MP4
    # Shapes of the real site (reference/external-apis.md, "TikTok, field behaviour"):
    "region_locked",  # statusCode 10231 (gallery-dl: "Region locked")
    "user_not_found",  # statusCode 10221 (gallery-dl: "User account could not be found")
    "empty_item",  # statusCode 0 with `itemStruct: {}`
    "missing_item",  # statusCode 0 with no `itemInfo` at all
    "age_restricted",  # isContentClassified true and no `video` (yt-dlp: needs login)
    "login_wall",  # statusCode 0, empty `stats`, createTime "0" (4CAT: post behind a login)
)
# Forms of a search result's link to a video (reference: "Link forms in search results").
LINK_FORMS = ("canonical", "mobile", "http", "t", "vm", "vt", "share", "embed", "photo")

AUTHORS = [
    ("wanderwithmika", "Mika Travels"), ("ramenhunter.jp", "Ramen Hunter"),
    ("bkk_eats", "Bangkok Eats 🍜"), ("backpack.bea", "Bea | Budget Travel"),
    ("plantplate", "Plant Plate"), ("drfastlane", "Dr. Lane MD"),
    ("lisboa.local", "Lisboa Local"), ("glowlab.kr", "Glow Lab"),
    ("crumbandcrust", "Crumb & Crust"), ("calmcorner.therapy", "Calm Corner"),
    ("solo.sara.goes", "Sara Goes Solo ✈️"), ("healthfactcheck", "Health Fact Check"),
]
TOPICS = {
    "travel": (
        ["Day one in the city", "Best view at sunset", "Hidden alley cafe", "Train pass tips",
         "Cheap eats near station", "Pack light carry on"],
        ["We start early to beat the crowds at the old market.",
         "The view from the hill is worth the climb at sunset.",
         "A local pass saves money if you ride more than three times a day.",
         "Keep your passport in a zipped inner pocket.",
         "This little cafe serves the best coffee in the district."],
        ["travel", "traveltiktok", "citybreak", "fyp"],
    ),
    "food": (
        ["Rich pork broth", "Noodles made fresh", "Night market finds", "Mango sticky rice",
         "Knead then rest", "Crispy crust secret"],
        ["The broth simmers for twelve hours before service.",
         "Order the spicy miso bowl with an extra egg.",
         "Street food stalls open after six in the evening.",
         "Fold the dough every thirty minutes for a better rise.",
         "Bake with steam for the first twenty minutes."],
        ["foodtok", "ramen", "streetfood", "homebaking"],
    ),
    "health": (
        ["Drink more water", "Sleep before midnight", "Ask your doctor", "Track your meals",
         "Breathe in four counts", "Side effects matter"],
        ["Most adults need seven to nine hours of sleep each night.",
         "Talk to your doctor before you change any medication.",
         "Slow breathing can calm a racing heart in a few minutes.",
         "Fasting is not safe for everyone, especially during pregnancy.",
         "Protein at breakfast keeps you full until lunch."],
        ["healthtok", "wellness", "mentalhealth", "nutrition"],
    ),
}
MUSIC = [("original sound", None), ("Lo-fi Morning", "chillhop"), ("Summer Walk", "beatsbyk"),
         ("Cafe Jazz Loop", "jazzcat")]
LOCATIONS = ["US", "JP", "TH", "PT", "KR", "GB", "DE"]
BASE_CREATE_TIME = 1_704_067_200  # 2024-01-01T00:00:00Z


@dataclass
class Scene:
    start: float
    end: float
    text: str
    color: str


@dataclass
class DemoVideo:
    """One video of the fake site. The fields after `script` choose the page's and the CDN's
    shape; their defaults are the plain shape (a `playAddr`, one muxed h264 gear, no captions),
    and each other value is a shape of the real site named in fakeweb/tiktok.py."""

    video_id: str
    author: str
    author_id: str
    nickname: str
    sec_uid: str
    desc: str
    hashtags: list[str]
    create_time: int
    location: str
    stats: dict[str, int]
    music: dict[str, Any]
    duration: float
    width: int
    height: int
    scenes: list[Scene]
    script: str  # spoken narration; "" means no speech
    has_audio: bool = True
    kind: str = "ok"
    counts_as_strings: bool = False  # some real pages send counts and times as strings
    challenge_visits: int = 0  # serve a bot challenge for the first N page visits
    login_visits: int = 0  # then redirect to /login for the next N visits
    expired_url_visits: int = 0  # then serve already-expired video URLs for the next N visits
    # Bot defences (fakeweb/tiktok.py, "bot defences"): solved WAF proof-of-work challenges
    # needed before the page is served (each page reloads itself), then a captcha overlay for
    # N visits and an empty app shell for N visits (both before `challenge_visits`).
    waf_challenge_rounds: int = 0
    captcha_visits: int = 0
    shell_visits: int = 0
    # Video sources in itemStruct.video (fakeweb/tiktok.py, "video sources").
    first_gear: str = "h264"  # "dash": bitrateInfo[0] is a video-only DASH gear + bitrateAudioInfo
    bytevc2_gear: bool = False  # add an undecodable bytevc2 gear before the h264 one
    sources: str = "all"  # "struct_only": playAddr "" and PlayAddrStruct the only clean source
    play_addr_list: bool = False  # playAddr as a list of {"src": url}
    download_only: bool = False  # downloadAddr (watermarked) is the only source
    watermark_download: bool = False  # downloadAddr serves the watermarked rendition
    www_format_url: bool = False  # a gear URL on the page's own host answering ~31 KB non-video
    audio_url_list_as_object: bool = False  # bitrateAudioInfo[].UrlList as one {MainUrl, ...}
    cdn_cors: bool = True  # False: the CDN and captions send no Access-Control-* headers
    # Counts: `stats` rounded as TikTok shows them (statsV2 stays exact), or statsV2 only.
    rounded_stats: bool = False
    stats_v2_only: bool = False
    # Captions: video.subtitleInfos and video.claInfo.captionInfos, one WebVTT per language
    # (the first is the original, Source `caption_source`; the others "MT"); the languages in
    # `failing_captions` answer 404.
    captions: tuple[str, ...] = ()
    caption_source: str = "ASR"
    failing_captions: tuple[str, ...] = ()
    # How search results link to this video (rendered by fakeweb/serper.py): one of LINK_FORMS,
    # e.g. "vm" for a vm.tiktok.com short link, "photo" for /@user/photo/ID.
    link_form: str = "canonical"
    # Hostile page data: these keys replace the itemStruct's (a "video" mapping is merged into
    # its video), e.g. {"author": "a string", "createTime": 10**20}.
    item_patch: dict[str, Any] = field(default_factory=dict)

    @property
    def download_watermarked(self) -> bool:
        """Whether downloadAddr serves the watermarked rendition (reference: downloadAddr has a
        burned-in "TikTok @author" watermark)."""
        return self.watermark_download or self.download_only or self.sources == "struct_only"

    @property
    def page_path(self) -> str:
        return f"/@{self.author}/video/{self.video_id}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Catalog:
    videos: dict[str, DemoVideo] = field(default_factory=dict)
    query_results: dict[str, list[str]] = field(default_factory=dict)

    def add(self, video: DemoVideo) -> DemoVideo:
        self.videos[video.video_id] = video
        return video

    def results_for(self, query: str) -> list[str]:
        """The video ids a search for `query` finds, in ranking order (deterministic).

        An explicit mapping wins; otherwise the pool of the query's topic, rotated by the query
        so that different queries overlap; otherwise a pick from every playable video.
        """
        if query in self.query_results:
            return list(self.query_results[query])
        digest = int(hashlib.sha1(query.encode("utf-8")).hexdigest(), 16)
        pool = self.query_results.get(f"__topic__{topic_of(query)}")
        if pool:
            shift = digest % len(pool)
            return pool[shift:] + pool[:shift]
        playable = sorted(v.video_id for v in self.videos.values() if v.kind == "ok")
        return random.Random(digest).sample(playable, k=min(len(playable), 3))


def _video_id(rng: random.Random) -> str:
    return str(rng.randrange(7_200_000_000_000_000_000, 7_600_000_000_000_000_000))


def make_video(rng: random.Random, topic: str, *, kind: str = "ok", speech: bool = True,
               has_audio: bool = True, scenes: int | None = None,
               duration: float | None = None) -> DemoVideo:
    """One demo video with realistic metadata and 2–5 scenes of distinct on-screen text."""
    overlays, sentences, tags = TOPICS[topic]
    author, nickname = rng.choice(AUTHORS)
    scene_count = scenes or rng.randint(2, 5)
    total = duration or float(rng.randint(max(10, 4 * scene_count), 30))
    cuts = sorted(rng.sample(range(3, int(total) - 2), scene_count - 1)) if scene_count > 1 else []
    # Scenes of at least ~3 s, so a frame from inside each one is well defined.
    starts = [0.0]
    for cut in cuts:
        starts.append(float(max(cut, starts[-1] + 3)))
    starts = [s for s in starts if s < total - 2][:scene_count]
    bounds = starts + [total]
    texts = rng.sample(overlays, k=len(starts))
    colors = rng.sample(["0x1f4e79", "0x7a1f3d", "0x2e6b30", "0x5b3a8c", "0x8c5a1f", "0x1f6f6f"],
                        k=len(starts))
    scene_list = [Scene(bounds[i], bounds[i + 1], texts[i], colors[i]) for i in range(len(starts))]
    script = " ".join(rng.sample(sentences, k=min(len(sentences), max(2, len(starts))))) \
        if speech and has_audio else ""
    hashtags = rng.sample(tags, k=3)
    emoji = rng.choice(["✨", "🍜", "🌏", "💡", "🔥", ""])
    desc = f"{texts[0]} {emoji} " + " ".join(f"#{tag}" for tag in hashtags)
    music_title, music_author = rng.choice(MUSIC)
    plays = rng.randint(2_000, 3_000_000)
    return DemoVideo(
        video_id=_video_id(rng),
        author=author,
        author_id=str(rng.randrange(6_700_000_000_000_000_000, 7_300_000_000_000_000_000)),
        nickname=nickname,
        sec_uid="MS4wLjABAAAA" + hashlib.sha1(author.encode()).hexdigest()[:40],
        desc=" ".join(desc.split()),
        hashtags=hashtags,
        create_time=BASE_CREATE_TIME + rng.randint(0, 60 * 86_400 * 10),
        location=rng.choice(LOCATIONS),
        stats={
            "playCount": plays,
            "diggCount": plays // rng.randint(8, 30),
            "commentCount": plays // rng.randint(200, 900),
            "shareCount": plays // rng.randint(300, 2000),
            "collectCount": plays // rng.randint(100, 600),
        },
        music={
            "id": str(rng.randrange(7_000_000_000_000_000_000, 7_400_000_000_000_000_000)),
            "title": music_title,
            "authorName": music_author or nickname,
            "duration": int(total),
        },
        duration=total,
        width=576,
        height=1024,
        scenes=scene_list,
        script=script,
        has_audio=has_audio,
        kind=kind,
        counts_as_strings=rng.random() < 0.4,
    )


# Research-list topics, so demo queries find videos on their subject.
QUERY_TOPICS = {
    "travel": ("itinerary", "travel", "backpacking", "gems", "lisbon", "tokyo weekend"),
    "food": ("ramen", "food", "sourdough", "meal", "bread", "market"),
    "health": ("fasting", "skincare", "anxiety", "ozempic", "health", "therap"),
}


def topic_of(query: str) -> str:
    lowered = query.lower()
    for topic, words in QUERY_TOPICS.items():
        if any(word in lowered for word in words):
            return topic
    return "travel"


def demo_catalog(seed: int = 2024) -> Catalog:
    """The demo site: a small pool of videos per topic, plus a few that are not playable."""
    rng = random.Random(seed)
    catalog = Catalog()
    pools: dict[str, list[str]] = {}
    for topic in TOPICS:
        pool = [catalog.add(make_video(rng, topic)).video_id for _ in range(3)]
        pools[topic] = pool
    # Cases a real crawl meets: a video with no speech, one without an audio track at all,
    # a private one, a photo post and a legacy (SIGI_STATE) page.
    quiet = catalog.add(make_video(rng, "food", speech=False)).video_id
    silent = catalog.add(make_video(rng, "travel", has_audio=False)).video_id
    private = catalog.add(make_video(rng, "health", kind="private")).video_id
    photo = catalog.add(make_video(rng, "travel", kind="photo")).video_id
    legacy = catalog.add(make_video(rng, "food", kind="legacy")).video_id
    extras = {"travel": [photo, silent], "food": [legacy, quiet], "health": [private]}
    for topic, pool in pools.items():
        catalog.query_results[f"__topic__{topic}"] = pool + extras[topic]
    # Shapes of the real site, set after every random draw so the demo finds the same videos
    # with the same outcomes: TikTok's own captions on one narrated video per topic (English
    # ASR; the health one also an MT Spanish track), and a first gear that is DASH video-only
    # with rounded `stats` beside exact `statsV2` on another (not one of the first two queries'
    # videos, whose metadata tests/test_download_workflow.py compares with the catalog's).
    catalog.videos[pools["travel"][2]].captions = ("eng-US",)
    catalog.videos[pools["food"][1]].captions = ("eng-US",)
    catalog.videos[pools["health"][0]].captions = ("eng-US", "spa-ES")
    dash = catalog.videos[pools["health"][1]]
    dash.first_gear = "dash"
    dash.rounded_stats = True
    # playAddr "" with PlayAddrStruct the only clean source (reference "Video sources").
    catalog.videos[pools["health"][2]].sources = "struct_only"
    # Search results link to videos in the forms the real ones do: a /t/ short link followed
    # to its video, the embed and share forms, and the photo post as /@user/photo/ID.
    catalog.videos[pools["travel"][1]].link_form = "t"
    catalog.videos[pools["food"][2]].link_form = "embed"
    catalog.videos[pools["health"][2]].link_form = "share"
    catalog.videos[photo].link_form = "photo"
    return catalog
