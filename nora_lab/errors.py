"""The exceptions nora_lab raises.

Every error derives from :class:`NoraError`, so ``except NoraError`` catches all of
them. Messages name the file, id or value involved and say what to do next.

The tree::

    NoraError
    ├── ConfigError            a setting is missing or malformed
    ├── ArchiveError           the archive database or its storage
    │   ├── NotFoundError      a project, subject, study, file or user does not exist
    │   ├── AlreadyExistsError creating something that exists (use ``exist_ok=True``)
    │   ├── PermissionDenied   the current user lacks the right for this action
    │   ├── UnsafePathError    a path or pattern that would leave the project root
    │   └── IntegrityError     rows and files disagree (see ``nora --fsck``)
    ├── FilterSyntaxError      a filter-bar string or file pattern cannot be parsed
    ├── DicomImportError       a DICOM or file import could not be done
    │   ├── UploadRejected     an upload refused before anything was written (HTTP status)
    │   └── ForeignDataError   a folder tree, BIDS dataset, Slicer scene or DICOM SEG that
    │                          cannot be taken in or written out (names the file)
    ├── ImagingError           shape/affine mismatch, empty ROI, missing reference, ...
    ├── BatchError             a job or batch is malformed or failed
    │   ├── ProcessingError    a built-in processing job could not process its input
    │   ├── JobLost            a job's process was terminated from outside
    │   └── BatchTimeout       waiting for a run took longer than asked (the run goes on)
    ├── SegmentError           a segmentation model cannot be trained, loaded or applied
    ├── PacsError              a DICOM network peer refused or failed
    ├── AssistError            the ROI assistant cannot do an interaction
    │   └── BackendUnavailable a backend lacks its package, weights, GPU or server (named)
    ├── LinkError              a URL call or shared link cannot be opened (HTTP status)
    ├── HubError               the hub or a lab answered an error (HTTP status;
    │                          defined in :mod:`nora_lab.server.hubapi`)
    └── DatasetError           a test or demo dataset is missing or fails its checksum

Built-in bases are added where Python code would expect them (e.g. :class:`NotFoundError`
is also a :class:`LookupError`, :class:`BatchTimeout` a :class:`TimeoutError`). Every class
of the tree is defined here but ``HubError``, which the hub client defines. Widgets show
these errors in their status line.
"""

from __future__ import annotations

__all__ = [
    "NoraError",
    "ConfigError",
    "ArchiveError",
    "NotFoundError",
    "AlreadyExistsError",
    "PermissionDenied",
    "UnsafePathError",
    "IntegrityError",
    "FilterSyntaxError",
    "DicomImportError",
    "ImagingError",
    "BatchError",
    "ProcessingError",
    "UploadRejected",
    "ForeignDataError",
    "JobLost",
    "BatchTimeout",
    "SegmentError",
    "PacsError",
    "AssistError",
    "BackendUnavailable",
    "LinkError",
    "DatasetError",
]


class NoraError(Exception):
    """Root of every error raised by nora_lab."""


class ConfigError(NoraError, ValueError):
    """A configuration value is missing or malformed."""


class ArchiveError(NoraError):
    """The archive database or its storage could not do what was asked."""


class NotFoundError(ArchiveError, LookupError):
    """A project, subject, study, file or user does not exist."""


class AlreadyExistsError(ArchiveError):
    """Something being created exists already."""


class PermissionDenied(ArchiveError, PermissionError):
    """The current user has no right for this action on this project."""


class UnsafePathError(ArchiveError, ValueError):
    """A path, file pattern or OUT name would leave the project root."""


class IntegrityError(ArchiveError):
    """Database rows and files on disk disagree."""


class FilterSyntaxError(NoraError, ValueError):
    """A filter-bar string or a file pattern cannot be parsed.

    The message quotes the string and points at the offending part.
    """


class DicomImportError(NoraError):
    """A DICOM (or other file) import could not be done."""


class UploadRejected(DicomImportError):
    """An upload was refused before anything was written; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ForeignDataError(DicomImportError):
    """A folder tree, BIDS dataset, Slicer scene or DICOM SEG cannot be taken in (or a
    BIDS dataset written out); the message names the file and the problem."""


class ImagingError(NoraError, ValueError):
    """An imaging computation got input it cannot handle correctly."""


class BatchError(NoraError):
    """A job or batch is malformed, or failed."""


class ProcessingError(BatchError):
    """A built-in processing job (``nora_lab.batch.catalogue``) could not process its input.

    The message names the study, the input file and the cause.
    """


class JobLost(BatchError):
    """A job's process was terminated from outside: its worker is probably going down."""


class BatchTimeout(BatchError, TimeoutError):
    """Waiting for a batch run took longer than ``timeout``; the run goes on."""


class SegmentError(NoraError, ValueError):
    """A segmentation model cannot be trained, loaded or applied (``nora_lab.segment``).

    The message names the study or file and the problem (grids, empty labels, a missing
    contrast, too few studies, out of memory with the patch and batch size to lower).
    """


class PacsError(NoraError):
    """A DICOM network peer refused a request, or the exchange failed."""


class AssistError(NoraError, ValueError):
    """The ROI assistant (``nora_lab.assist``) cannot take an interaction or make a proposal
    (an interaction outside the image, an unknown backend, no image set)."""


class BackendUnavailable(AssistError, RuntimeError):
    """An assistant backend cannot run here; the message names what is missing (the
    ``nninteractive`` package, its weights folder, a GPU, the lab server's URL) and the
    setting in ``assist.yaml`` that provides it."""


class LinkError(NoraError):
    """A link cannot be opened; ``status`` is the HTTP answer (400, 403, 404)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class DatasetError(NoraError):
    """A test or demo dataset is missing, cannot be fetched, or fails its checksum."""

