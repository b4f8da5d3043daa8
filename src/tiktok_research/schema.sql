-- Published research data: one row per video, and which queries found it.
-- Runs as is on PostgreSQL/Supabase (and SQLite); every statement is idempotent.

CREATE TABLE IF NOT EXISTS videos (
    video_id     TEXT PRIMARY KEY,
    url          TEXT,
    author       TEXT,
    title        TEXT,
    transcript   TEXT,
    ocr_text     TEXT,
    gcs_prefix   TEXT,
    frame_count  INTEGER,
    processed_at TIMESTAMP,
    post_type    TEXT DEFAULT 'video'  -- 'video', or 'photo' for a photo post
);

CREATE TABLE IF NOT EXISTS query_videos (
    query_index INTEGER NOT NULL,
    query       TEXT    NOT NULL,
    video_id    TEXT    NOT NULL REFERENCES videos (video_id) ON DELETE CASCADE,
    position    INTEGER,
    PRIMARY KEY (query_index, query, video_id)
);

CREATE INDEX IF NOT EXISTS query_videos_video_id ON query_videos (video_id);

-- Pipeline bookkeeping, not research data: one row per failed attempt of a job, in the shape of
-- failures.json (which the run summary writes from it). `details` is a JSON object.
CREATE TABLE IF NOT EXISTS pipeline_failures (
    id          TEXT PRIMARY KEY,
    seq         BIGINT  NOT NULL,
    timestamp   TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    query_index INTEGER,
    query       TEXT,
    video_id    TEXT,
    url         TEXT,
    attempt     INTEGER,
    error       TEXT,
    details     TEXT
);

-- Pipeline bookkeeping: one row per paid call (a Serper search, a Claude request, a video's
-- upload), which every run adds to; costs.json and the budget checks sum it.
CREATE TABLE IF NOT EXISTS pipeline_costs (
    id            TEXT PRIMARY KEY,
    seq           BIGINT  NOT NULL,
    timestamp     TEXT    NOT NULL,
    run           TEXT,
    task          TEXT,
    service       TEXT    NOT NULL,
    model         TEXT,
    query_index   INTEGER,
    query         TEXT,
    video_id      TEXT,
    requests      BIGINT  NOT NULL DEFAULT 0,
    credits       BIGINT  NOT NULL DEFAULT 0,
    input_tokens  BIGINT  NOT NULL DEFAULT 0,
    output_tokens BIGINT  NOT NULL DEFAULT 0,
    bytes         BIGINT  NOT NULL DEFAULT 0
);

-- Columns added since the first release, for a database created before them: CREATE TABLE IF
-- NOT EXISTS leaves an existing table as it is. (The backends run the schema up to the marker
-- below and add a missing column themselves: SQLite has no ADD COLUMN IF NOT EXISTS, and on
-- PostgreSQL the statement locks the table even when the column is there.)
-- added columns
ALTER TABLE videos ADD COLUMN IF NOT EXISTS post_type TEXT DEFAULT 'video';
