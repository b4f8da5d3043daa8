"""Every exception the pipeline raises on purpose, in one tree.

Each one carries what the run needs to handle it, so callers catch by base class and read
attributes instead of sorting by type:

- `kind`: the failure type it is recorded as in `failures.json` (search, download, process,
  validate, upload, error);
- `retryable`: whether trying again (a backoff, a job retry, the next run) can help;
- `outcome`: for a verdict about the video itself rather than a fault of the run (private,
  deleted, no audio track, no speech), the outcome the video ends with; such a video is not
  tried again;
- `reason`: a short machine-readable cause (`private_post`, `no_audio_track`, ...).

    PipelineError                        kind       retryable  outcome
    ├── ConfigError                      error      no
    │   ├── MissingSecret                error      no
    │   └── QueryListError               error      no
    ├── SearchError                      search     yes
    │   └── SearchAuthError              search     no
    ├── DownloadError                    download   yes
    │   ├── PageBlocked                  download   yes
    │   │   └── BreakerOpen              download   yes
    │   ├── NoAudioInFile                download   yes
    │   ├── OverCap                      download   no
    │   ├── TransientFetchError          download   yes
    │   │   └── BadVideo                 download   yes
    │   ├── UrlRefused                   download   yes
    │   └── VideoUnavailable             download   no         unavailable
    ├── ProcessError                     process    yes
    │   ├── MediaError                   process    yes
    │   │   ├── NoAudioTrack             process    no         processing_failed
    │   │   └── StepFailed               process    no         processing_failed
    │   ├── TranscriptionError           process    yes
    │   └── OcrError                     process    yes
    │       └── OcrAuthError             process    no
    ├── OutputInvalid                    validate   no         processing_failed
    ├── PublishError                     upload     yes
    │   ├── StorageError                 upload     yes
    │   │   └── ChecksumMismatch         upload     yes
    │   └── DatabaseError                upload     yes
    ├── BudgetExhausted                  (given)    no
    └── RuntimeProblem                   error      yes
        ├── WorkerUnavailable            error      yes
        └── WorkerJobFailed              error      yes
"""

from __future__ import annotations

from typing import Any, ClassVar

FAILURE_TYPES = ("search", "download", "process", "validate", "upload", "error")


class PipelineError(RuntimeError):
    kind: ClassVar[str] = "error"
    default_retryable: ClassVar[bool] = True
    default_outcome: ClassVar[str | None] = None

    def __init__(self, message: str, *, retryable: bool | None = None, reason: str = "",
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.retryable = self.default_retryable if retryable is None else retryable
        self.reason = reason or type(self).__name__
        self.details = dict(details or {})

    @property
    def outcome(self) -> str | None:
        return self.default_outcome


# --- configuration and local input -------------------------------------------------------------
class ConfigError(PipelineError):
    """A configuration problem, described in one line naming the key."""

    default_retryable = False


class MissingSecret(ConfigError):
    """A stage needs a secret that is neither in the environment nor in `.env`."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="missing_secret")


class QueryListError(ConfigError):
    """The query list cannot be used; the message names the file and the problem."""


# --- search ---------------------------------------------------------------------------------
class SearchError(PipelineError):
    """The search failed after its retries."""

    kind = "search"


class SearchAuthError(SearchError):
    """Serper refused the request: bad key or no credits. Never retried."""

    default_retryable = False


# --- download -------------------------------------------------------------------------------
class DownloadError(PipelineError):
    """The video could not be downloaded (after the retries the download makes itself)."""

    kind = "download"


class PageBlocked(DownloadError):
    """A bot challenge or a login wall stayed in the way: worth a retry later."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the video page answered with a {reason} page on every visit",
                         reason=reason)


class BreakerOpen(PageBlocked):
    """Too many pages in a row were blocked: this run loads no more pages (the next may)."""

    def __init__(self) -> None:
        super().__init__("circuit_breaker")


class TransientFetchError(DownloadError):
    """Network error, 429/5xx or a bad body: the same URL may work on another try."""


class BadVideo(TransientFetchError):
    """The bytes are not a complete, decodable MP4 video."""


class UrlRefused(DownloadError):
    """403/404/410 from the CDN: this URL is expired or refused; the page has fresh ones."""


class NoAudioInFile(DownloadError):
    """The rendition has no audio stream though the page says the video has sound."""


class OverCap(DownloadError):
    """The video is over a configured cap (bytes, duration, pixels): the message names the config
    key. Not tried again within the job: the same cap refuses it again."""

    default_retryable = False


class VideoUnavailable(DownloadError):
    """The page says the video cannot be had: private, deleted, not available, a photo post."""

    default_retryable = False
    default_outcome = "unavailable"

    def __init__(self, reason: str, status_code: int | None = None, *, permanent: bool = True,
                 status_msg: str = "") -> None:
        code = f" (statusCode {status_code}{': ' + status_msg if status_msg else ''})" \
            if status_code else ""
        lasting = "" if permanent else " for now"
        super().__init__(f"video unavailable{lasting}: {reason}{code}", reason=reason,
                         details={"status_code": status_code or None, "status_msg": status_msg,
                                  "permanent": permanent})
        self.status_code = status_code or None
        self.status_msg = status_msg
        self.permanent = permanent


# --- process --------------------------------------------------------------------------------
class ProcessError(PipelineError):
    """A processing step failed on a video."""

    kind = "process"


class MediaError(ProcessError):
    """The video cannot be read (corrupt, truncated, not a video)."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("reason", "unreadable_video")
        super().__init__(message, **kwargs)


class NoAudioTrack(MediaError):
    """The video has no audio stream at all (as opposed to silence)."""

    default_retryable = False
    default_outcome = "processing_failed"

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="no_audio_track")


class StepFailed(MediaError):
    """A step crashed on the file (its decoder killed by a signal) or ran over its timeout
    (`process.timeouts.<step>`): a verdict about the file once a second try confirms it."""

    default_retryable = False
    default_outcome = "processing_failed"


class TranscriptionError(ProcessError):
    """The speech engine could not be loaded or could not transcribe the file."""


class OcrError(ProcessError):
    """The OCR engine could not be loaded or could not read a frame."""


class OcrAuthError(OcrError):
    """The OCR service refused the credentials: retrying cannot help until the key is fixed."""

    default_retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="authentication")


class OutputInvalid(PipelineError):
    """What a step produced fails validation (a transcript without speech, no frames)."""

    kind = "validate"
    default_retryable = False
    default_outcome = "processing_failed"


# --- publish --------------------------------------------------------------------------------
class PublishError(PipelineError):
    """Storing the files or writing the row failed."""

    kind = "upload"


class StorageError(PublishError):
    """An upload failed."""


class ChecksumMismatch(StorageError):
    """The storage holds different bytes than the local file (a re-upload may fix it)."""


class DatabaseError(PublishError):
    """A database write or read failed."""


# --- costs ---------------------------------------------------------------------------------
class BudgetExhausted(PipelineError):
    """The study's `budget` leaves nothing for another paid call, which was not made. Recorded
    as the failure type of the stage that would have made it (search for Serper, process for
    Claude); not retried in this run, and no verdict: the next run with a larger budget goes on.
    Raised retryable (reason `budget_unknown`) when the spending so far cannot be read."""

    default_retryable = False

    def __init__(self, message: str, *, kind: str, retryable: bool | None = None,
                 reason: str = "budget_exhausted") -> None:
        super().__init__(message, retryable=retryable, reason=reason)
        self.failed_kind = kind

    @property  # type: ignore[override]  (the kind of the call that was stopped)
    def kind(self) -> str:
        return self.failed_kind


# --- the runtime ----------------------------------------------------------------------------
class RuntimeProblem(PipelineError):
    """The machinery that runs jobs failed, not the job itself."""


class WorkerUnavailable(RuntimeProblem):
    """The persistent worker could not be reached or started."""


class WorkerJobFailed(RuntimeProblem):
    """The job's function failed in the worker; the message is its one-line error."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.failed_kind = kind
