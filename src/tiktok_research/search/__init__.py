"""The search stage: a query → the TikTok video links Serper's Google video search finds.

`links` parses Serper's replies (pure), `serper` is the HTTP client, `job` the checkpoint's job.
"""
