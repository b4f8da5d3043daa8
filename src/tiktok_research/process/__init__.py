"""The process stage: a downloaded video → its audio, scene frames, transcript and on-screen text.

    audio       the sound track as MP3 (ffmpeg)
    scenes      one frame per scene (PySceneDetect)
    transcribe  speech to text, one module per engine (faster-whisper, openai-whisper)
    ocr         on-screen text, one module per engine (local RapidOCR, Claude)
    validate    is a video's derived data complete enough to publish
    steps       the steps in order, each checked before the next
    engines     the warm resources: the speech model and the OCR engine
"""
