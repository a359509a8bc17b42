"""Every error kling-pipe raises on purpose.

    KlingPipeError
    ├── InputError            bad input from the user: exit status 2, never a traceback
    │   ├── ManifestError     problems located in a manifest or template (file:line:col)
    │   ├── MissingTokenError a backend needs a credential the environment does not hold
    │   └── StoreUnreachableError  a bucket store cannot be read or written (credentials,
    │                         endpoint, permissions)
    ├── MediaError            ffmpeg failed, or a file is not the video it should be
    ├── BackendError          a generation backend failed
    │   ├── TransientError    worth retrying: connection, 5xx, timeouts, an aborted prediction
    │   ├── RateLimitedError  a create was throttled (429); wait `retry_after` seconds
    │   ├── JobRejectedError  this job cannot succeed as asked
    │   │   ├── InvalidInputError   the provider refused the inputs (422)
    │   │   └── ContentPolicyError  the provider's safety filter refused the job
    │   ├── AccountError      nothing can succeed: bad token (401), no credit (402)
    │   └── OutputGoneError   the output expired on the server before it was downloaded
    ├── BudgetError           a run was refused because it would exceed its budget: exit 3
    │   └── LostOutputsError  …or pay again for outputs the lock records and no store holds
    └── StoreLockedError      another run holds the store's lock

Each `BackendError` class carries the `FailureKind` it stands for (`failure`), the same
vocabulary as a failed prediction's `Prediction.failure`.

Anything else that escapes is a bug and shows its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

FailureKind = Literal["content_policy", "invalid_input", "model_error", "transient", "account"]
"""Why a generation failed, decided by the backend where the provider's answer is parsed:
content_policy and invalid_input fail the job at once; model_error and transient are tried
again; account stops every new create."""


@dataclass(frozen=True)
class SourceLocation:
    """A position in a file, 1-based, as editors and compilers print it."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where, which field, what, and for which job."""

    message: str
    location: SourceLocation | None = None
    field_path: str = ""
    job: str | None = None
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        prefix = f"{self.location}: " if self.location else ""
        fieldpart = f"{self.field_path}: " if self.field_path else ""
        jobpart = f" (job {self.job})" if self.job else ""
        tag = "warning: " if self.severity == "warning" else ""
        return f"{prefix}{tag}{fieldpart}{self.message}{jobpart}"


class KlingPipeError(Exception):
    """Base of every error kling-pipe raises deliberately."""

    exit_code = 1


class InputError(KlingPipeError):
    """The user's input is wrong; the message says where and how to fix it."""

    exit_code = 2


class MissingTokenError(InputError):
    """A backend needs a credential (named in the message) that the environment lacks."""


class StoreUnreachableError(InputError):
    """A bucket store cannot be read or written: credentials, endpoint or permissions."""


class ManifestError(InputError):
    """One or more located problems in a manifest, its templates or its inputs."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class MediaError(KlingPipeError):
    """ffmpeg failed, or a media file is not what it should be."""


class BackendError(KlingPipeError):
    """A generation backend failed."""

    failure: ClassVar[FailureKind | None] = None


class TransientError(BackendError):
    """A failure that may pass: retry with backoff."""

    failure: ClassVar[FailureKind | None] = "transient"


class RateLimitedError(BackendError):
    """The provider throttled a create; it is not a failure, only a wait."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class JobRejectedError(BackendError):
    """The provider refused this job as asked (invalid input, content policy): do not retry."""

    failure: ClassVar[FailureKind | None] = "invalid_input"


class InvalidInputError(JobRejectedError):
    """The provider refused the inputs (Replicate's 422 "Input validation failed")."""


class ContentPolicyError(JobRejectedError):
    """The provider's safety filter refused the job's inputs: change them, do not retry."""

    failure: ClassVar[FailureKind | None] = "content_policy"


class AccountError(BackendError):
    """The account cannot run anything (401 bad token, 402 no credit): stop submitting."""

    failure: ClassVar[FailureKind | None] = "account"


class OutputGoneError(BackendError):
    """The prediction succeeded but its output was removed before it was fetched."""


class BudgetError(KlingPipeError):
    """The run would exceed its budget; nothing more was submitted."""

    exit_code = 3


class LostOutputsError(BudgetError):
    """Outputs the lock records as paid for are in no store: paying again needs consent."""


class StoreLockedError(KlingPipeError):
    """Another process holds the store's run lock."""

    exit_code = 2
