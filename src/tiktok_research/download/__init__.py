"""The download stage: a video page, opened in a real browser → the verified video file and its
metadata.

    page     the page's JSON → outcome, candidate video URLs, metadata (pure)
    session  one Chromium and one tab: visiting the page, fetching byte ranges in it
    fetch    one video's download: candidates in order, retries, reloads for fresh URLs
    verify   is the file a whole, decodable MP4 video
    slots    browser slots, profiles and the lifetime of Chromium processes
    pool     browsers kept between downloads (the task's warm resource)
    job      the rule's job
"""
