"""The publish stage: a processed video → its files in the storage and its row in the database.

    storage  the storage backends, one module each (local folder, Google Cloud Storage)
    rows     a video as its `videos` row and its dataset row (pure)
    publish  uploads (verified) and upserts, with retries
    job      the job after the download: process, publish, write the video's receipt
"""
