"""Moved: the Orthanc and dcmtk peers are test infrastructure, :mod:`nora_lab.testing.pacs`.

This alias warns with :class:`DeprecationWarning` on every name read through it.
"""

from nora_lab._lazy import deprecated_names

__getattr__ = deprecated_names(__name__, {
    name: f"nora_lab.testing.pacs:{name}"
    for name in ("OrthancServer", "dcmtk", "dcmtk_path", "free_port", "ServiceError")})
