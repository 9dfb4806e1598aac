"""Where nora_lab keeps its things, and who is using it.

Layered like dask-jobqueue's configuration: shipped defaults, then the user's
``$NORA_HOME/config.yaml``, then environment variables, then keyword arguments.

``$NORA_HOME`` (default ``~/.nora_lab``) holds ``config.yaml``, the embedded database
``archive.sqlite`` and the storage root ``data/``. ``$NORA_DB`` (an SQLAlchemy URL)
switches the database to a server; ``$NORA_ROOT`` the storage root.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from nora_lab.errors import ConfigError

__all__ = ["nora_home", "read_yaml_mapping", "load_config", "current_user", "default_db_url", "default_root"]


def nora_home() -> Path:
    """Return ``$NORA_HOME`` (default ``~/.nora_lab``) as an absolute path."""
    return Path(os.environ.get("NORA_HOME") or Path.home() / ".nora_lab").expanduser().resolve()


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file holding a mapping; an absent file is an empty mapping.

    Raises
    ------
    ConfigError
        If the file exists but is not valid YAML or not a mapping.
    """
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, found {type(data).__name__}")
    return data


def load_config(home: Path | None = None) -> dict[str, Any]:
    """Read ``<home>/config.yaml`` (see :func:`read_yaml_mapping`)."""
    return read_yaml_mapping((home or nora_home()) / "config.yaml")


def current_user() -> str:
    """The OS account this process runs as (from the kernel, never from an environment
    variable: ``$USER``, ``$LOGNAME`` and ``$JUPYTERHUB_USER`` are anyone's to set)."""
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid without a passwd entry (some containers)
        return f"uid{os.geteuid()}"


def default_db_url(home: Path | None = None) -> str:
    """``$NORA_DB``, else the config's ``db``, else ``sqlite:///<home>/archive.sqlite``."""
    home = home or nora_home()
    return (
        os.environ.get("NORA_DB")
        or load_config(home).get("db")
        or f"sqlite:///{home / 'archive.sqlite'}"
    )


def default_root(home: Path | None = None) -> Path:
    """``$NORA_ROOT``, else the config's ``root``, else ``<home>/data``."""
    home = home or nora_home()
    root = os.environ.get("NORA_ROOT") or load_config(home).get("root") or home / "data"
    return Path(root).expanduser().resolve()
