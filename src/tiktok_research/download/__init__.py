"""The download stage: a video page, opened in a real browser → the verified video file and its
metadata.

    page     one visit of the page → what it found: the item, or why not (pure)
    item     the item → its sources in order, its caption tracks, metadata.json (pure)
    session  one Chromium and one tab: visiting the page, waiting out a challenge
    transfer the bytes in ranges, through the page or outside it with its cookies
    fetch    one video's download: sources in order, retries, reloads, captions
    pace     one pace for page loads, and a circuit breaker over blocked pages
    verify   is the file a whole, decodable MP4 video, and what it holds
    slots    browser slots, profiles and the lifetime of Chromium processes
    pool     browsers kept between downloads (the task's warm resource)
    job      the rule's job
"""
