"""The services the fake web answers, in dispatch order. A new fake service is one module with a
`handle(web, request)` function, added here."""

from tiktok_research.fakeweb import anthropic, postgrest, serper, shortlinks, tiktok

SERVICES = [
    ("serper", serper.handle),
    ("supabase", postgrest.handle),
    ("tiktok", tiktok.handle),
    ("shortlinks", shortlinks.handle),
    ("anthropic", anthropic.handle),
]
