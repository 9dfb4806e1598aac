"""The reading tool's table (defined by the archive, which owns its schema)."""

from nora_lab.archive._reading_results import reading_results

__all__ = ["reading_results"]
