"""Local stand-ins for the services a run touches that cannot run here (Serper, TikTok's site and
CDN, the Anthropic Messages API, Supabase's PostgREST), speaking their wire formats."""
