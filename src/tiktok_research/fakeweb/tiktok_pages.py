"""Fake TikTok, the pages: a video page (`__UNIVERSAL_DATA_FOR_REHYDRATION__`, or `SIGI_STATE`
for a `legacy` video) around the item of `fakeweb.tiktok_item`, and the pages a visitor meets
instead: the WAF proof-of-work challenge, the captcha overlay, the empty app shell, the old
static bot page, the login page and the deleted-video page. `fakeweb.tiktok` decides which.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import secrets
import time
from typing import Any

from tiktok_research.fakeweb.catalog import DemoVideo
from tiktok_research.fakeweb.tiktok_item import CAPTION_URL_TTL, item_for, item_struct
from tiktok_research.fakeweb.web import Request, Web

# statusCode per kind (reference "statusCode values"; gallery-dl's _check_status_code names
# 10221 "User account could not be found" and 10231 "Region locked").
STATUS_CODES = {"private": 10216, "private_account": 10222, "unavailable": 10204,
                "other_status": 10101, "region_locked": 10231, "user_not_found": 10221}
STATUS_MESSAGES = {10216: "item is private", 10222: "author is private",
                   10204: "item doesn't exist", 10101: "item not available",
                   10231: "item is not available in your region", 10221: "user doesn't exist"}
# The WAF challenge (yt-dlp's _solve_challenge_and_set_cookies, gallery-dl's _solve_challenge):
# `#cs` holds base64 JSON {"v": {"a": base64 prefix, "c": base64 SHA-256(prefix + str(n))}};
# the page finds n, adds "d": base64(str(n)), and sets the base64 of that JSON as the cookie
# named by `#wci` (and `#rci` = `#rs`), with a short Max-Age (the real script's is 1 s), then
# reloads. n stays below WAF_MAX_NONCE so the page solves it in well under a second.
WAF_COOKIE = "_wafchallengeid"
WAF_ORIGIN_COOKIE = "waforiginalreid"
WAF_MAX_NONCE = 2000
WAF_COOKIE_MAX_AGE = 5


def _script(element_id: str, payload: Any) -> str:
    text = json.dumps(payload, ensure_ascii=False).replace("</", "<\\/")
    return f'<script id="{element_id}" type="application/json">{text}</script>'


def document(title: str, body: str, body_class: str = "") -> str:
    body_tag = f'<body class="{body_class}">' if body_class else "<body>"
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title></head>{body_tag}{body}</body></html>")


def universal_page(web: Web, video: DemoVideo, expire: int, page_host: str | None = None,
                   caption_expire: int | None = None) -> str:
    code = STATUS_CODES.get(video.kind, 0)
    detail: dict[str, Any] = {"statusCode": code, "statusMsg": STATUS_MESSAGES.get(code, "")}
    if code == 0:
        if caption_expire is None:
            caption_expire = int(time.time()) + CAPTION_URL_TTL
        item = item_for(web, video, expire, page_host or web.host, caption_expire)
        if item is not None:
            detail["itemInfo"] = {"itemStruct": item}
        detail["shareMeta"] = {"title": f"{video.nickname} on TikTok", "desc": video.desc}
    data = {"__DEFAULT_SCOPE__": {
        "webapp.app-context": {"language": "en", "region": "US", "appId": 1988,
                               "user": {}, "wid": str(int(time.time() * 1000))},
        "webapp.biz-context": {"isMobile": False},
        "webapp.video-detail": detail,
    }}
    body = '<div id="app"></div>' + _script("__UNIVERSAL_DATA_FOR_REHYDRATION__", data)
    return document(f"{video.desc} | TikTok", body)


def legacy_page(web: Web, video: DemoVideo, expire: int, page_host: str | None = None,
                caption_expire: int | None = None) -> str:
    item = item_struct(web, video, expire, page_host, caption_expire)
    author = item.pop("author")
    item.update(author=author["uniqueId"], nickname=author["nickname"],
                authorId=author["id"], authorSecId=author["secUid"])
    data = {
        "AppContext": {"appContext": {"language": "en", "region": "US"}},
        "VideoPage": {"statusCode": 0, "statusMsg": ""},
        "ItemModule": {video.video_id: item},
        "UserModule": {"users": {author["uniqueId"]: author}},
    }
    body = '<div id="app"></div>' + _script("SIGI_STATE", data)
    return document(f"{video.desc} | TikTok", body)


# --- bot defences ---------------------------------------------------------------------------
def challenge_page() -> str:
    """The old static bot page (`challenge_visits`): no data, does nothing by itself."""
    body = ('<div id="cs" class="captcha-verify-container"><div id="wci" class="wci">'
            '<p>Please wait...</p></div></div>'
            '<script>setTimeout(function(){},1000)</script>')
    return document("Please wait...", body)


def _b64(data: bytes) -> str:
    """Base64 without padding: yt-dlp and gallery-dl add `===`/`==` before decoding."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _sha256_tables() -> tuple[list[int], list[int]]:
    """SHA-256's round constants and initial hash (fractional bits of the cube and square roots
    of the first primes), exact in integers, for the page's fallback digest."""
    primes: list[int] = []
    candidate = 2
    while len(primes) < 64:
        if all(candidate % p for p in primes if p * p <= candidate):
            primes.append(candidate)
        candidate += 1

    def root(value: int, power: int) -> int:
        low, high = 0, 1 << 64
        while low < high:
            middle = (low + high + 1) // 2
            if middle ** power <= value:
                low = middle
            else:
                high = middle - 1
        return low

    rounds = [root(p << 96, 3) & 0xFFFFFFFF for p in primes]
    initial = [root(p << 64, 2) & 0xFFFFFFFF for p in primes[:8]]
    return rounds, initial


_ROUNDS, _INITIAL = _sha256_tables()
# The page's solver. crypto.subtle exists only in a secure context (https, or http on
# 127.0.0.1/localhost); the fake's cross-origin mode serves http://www.<domain>, so the page
# falls back to a small SHA-256 of its own there.
WAF_SCRIPT = """
(function () {
  var K = %(rounds)s, H = %(initial)s, LIMIT = %(limit)d, MAX_AGE = %(max_age)d;
  function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }
  function sha256(bytes) {
    var length = bytes.length, total = ((length + 72) >> 6) << 6, i, j;
    var m = new Uint8Array(total), w = new Array(64), h = H.slice(), bits = length * 8;
    m.set(bytes); m[length] = 0x80;
    for (i = 0; i < 4; i++) m[total - 1 - i] = (bits >>> (8 * i)) & 255;
    for (var at = 0; at < total; at += 64) {
      for (i = 0; i < 16; i++) {
        j = at + 4 * i;
        w[i] = (m[j] << 24) | (m[j + 1] << 16) | (m[j + 2] << 8) | m[j + 3];
      }
      for (i = 16; i < 64; i++) {
        var s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        var s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (i = 0; i < 64; i++) {
        var t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g))
                  + K[i] + w[i]) | 0;
        var t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0;
      h[3] = (h[3] + d) | 0; h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0;
      h[6] = (h[6] + g) | 0; h[7] = (h[7] + k) | 0;
    }
    var out = new Uint8Array(32);
    for (i = 0; i < 8; i++) {
      out[4 * i] = h[i] >>> 24; out[4 * i + 1] = (h[i] >>> 16) & 255;
      out[4 * i + 2] = (h[i] >>> 8) & 255; out[4 * i + 3] = h[i] & 255;
    }
    return out;
  }
  var subtle = window.isSecureContext && window.crypto && window.crypto.subtle;
  function digest(bytes) {
    if (!subtle) return Promise.resolve(sha256(bytes));
    return crypto.subtle.digest("SHA-256", bytes).then(function (b) { return new Uint8Array(b); });
  }
  function unb64(text) {
    while (text.length %% 4) text += "=";
    var raw = atob(text), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  function same(x, y) {
    if (x.length !== y.length) return false;
    for (var i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  function className(id) { var el = document.getElementById(id); return el ? el.className : ""; }
  var cs = JSON.parse(new TextDecoder().decode(unb64(className("cs"))));
  var prefix = unb64(cs.v.a), expected = unb64(cs.v.c), encoder = new TextEncoder();
  async function solve() {
    for (var n = 0; n <= LIMIT; n++) {
      var tail = encoder.encode(String(n)), data = new Uint8Array(prefix.length + tail.length);
      data.set(prefix); data.set(tail, prefix.length);
      if (same(await digest(data), expected)) return n;
    }
    return -1;
  }
  solve().then(function (n) {
    if (n < 0) return;
    cs.d = btoa(String(n));
    var tail = "; Max-Age=" + MAX_AGE + "; Path=/; SameSite=Lax";
    document.cookie = className("wci") + "=" + btoa(JSON.stringify(cs)) + tail;
    if (className("rci") && className("rs")) {
      document.cookie = className("rci") + "=" + className("rs") + tail;
    }
    location.reload();
  });
})();
"""


def waf_challenge_page(web: Web, video: DemoVideo) -> str:
    """The WAF's "Please wait..." page with a fresh proof-of-work challenge (module constants
    above: the shape yt-dlp and gallery-dl solve natively), remembered until it is answered."""
    prefix = secrets.token_bytes(24)
    answer = secrets.randbelow(WAF_MAX_NONCE)
    expected = hashlib.sha256(prefix + str(answer).encode()).digest()
    challenge = {"v": {"a": _b64(prefix), "c": _b64(expected)}}
    with web.lock:
        web.state.setdefault("tiktok_waf", {})[challenge["v"]["a"]] = {
            "video": video.video_id, "c": challenge["v"]["c"], "used": False}
    script = WAF_SCRIPT % {"rounds": json.dumps(_ROUNDS), "initial": json.dumps(_INITIAL),
                           "limit": WAF_MAX_NONCE, "max_age": WAF_COOKIE_MAX_AGE}
    cs = _b64(json.dumps(challenge, separators=(",", ":")).encode())
    body = (f'<div id="cs" class="{cs}"></div><div id="wci" class="{WAF_COOKIE}"></div>'
            f'<div id="rci" class="{WAF_ORIGIN_COOKIE}"></div>'
            f'<div id="rs" class="{secrets.token_hex(16)}"></div>'
            f'<p>Please wait...</p><script>{script}</script>')
    return document("Please wait...", body)


def waf_solution(challenge: dict[str, Any], answer: int) -> str:
    """The cookie value a solver sets for `challenge` (the decoded `#cs` JSON) and its nonce."""
    solved = {**challenge, "d": base64.b64encode(str(answer).encode()).decode()}
    return base64.b64encode(json.dumps(solved, separators=(",", ":")).encode()).decode()


def waf_passed(web: Web, request: Request, video: DemoVideo) -> bool:
    """Whether the request carries an unused, correct answer to a challenge issued for `video`."""
    raw = request.cookies().get(WAF_COOKIE, "")
    if not raw:
        return False
    try:
        solved = json.loads(_unb64(raw.strip('"').rstrip("=")))
        prefix_text, expected_text = solved["v"]["a"], solved["v"]["c"]
        nonce, prefix, expected = (_unb64(solved["d"].rstrip("=")), _unb64(prefix_text),
                                   _unb64(expected_text))
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        return False
    if hashlib.sha256(prefix + nonce).digest() != expected:
        return False
    with web.lock:
        issued = web.state.get("tiktok_waf", {}).get(prefix_text.rstrip("="))
        if (not issued or issued["video"] != video.video_id or issued["used"]
                or issued["c"] != expected_text.rstrip("=")):
            return False
        issued["used"] = True
    return True


def captcha_page(video: DemoVideo) -> str:
    """The app page under a slider captcha, with no data (reference "Captcha overlay": the
    class and id names TikTok's secsdk captcha uses)."""
    pixel = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJ"
             "RU5ErkJggg==")
    body = ('<div id="app"><div id="main-content-video_detail"></div></div>'
            '<div class="TUXModal captcha-verify-container" role="dialog">'
            '<div class="cap-flex"><div class="captcha_verify_bar--title">'
            'Drag the slider to fit the puzzle</div>'
            '<div class="captcha_verify_img--wrapper">'
            f'<img id="captcha-verify-image" alt="Captcha" src="data:image/png;base64,{pixel}">'
            '</div><div class="captcha_verify_slide--slidebar">'
            '<div class="secsdk-captcha-drag-icon captcha_verify_slide--button"></div></div>'
            '</div></div>')
    return document(f"{video.desc} | TikTok", body, body_class="captcha-disable-scroll")


def shell_page() -> str:
    """The app's shell with no data script at all (what a throttled request can get)."""
    body = ('<div id="app"></div><script>window.__APP_SHELL__ = true;</script>')
    return document("TikTok - Make Your Day", body)


def login_page() -> str:
    return document("Log in | TikTok", '<div id="loginContainer"><h2>Log in to TikTok</h2></div>')


def deleted_page() -> str:
    return document("Video currently unavailable | TikTok",
                     '<div id="app"><p>Video currently unavailable</p></div>')
