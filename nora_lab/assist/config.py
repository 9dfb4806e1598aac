"""Assistant settings, layered: shipped ``assist.yaml`` → ``$NORA_HOME/assist.yaml`` →
keyword arguments (as :mod:`nora_lab.config` and dask-jobqueue do).

>>> settings(backend="nninteractive-remote", url="http://gpu-box:1527")  # doctest: +SKIP
('nninteractive-remote', {'url': 'http://gpu-box:1527', 'api_key': None})

Keys are written with dashes in YAML (``margin-mm``) and underscores in Python.
A keyword other than ``backend`` goes to the chosen backend's section.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from nora_lab import config as nora_config
from nora_lab.errors import ConfigError

__all__ = ["settings", "user_config_path", "BACKENDS"]

BACKENDS = ("cpu", "nninteractive", "nninteractive-remote", "model")
_SHIPPED = Path(__file__).with_name("assist.yaml")


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    return yaml.safe_load(_SHIPPED.read_text())["assist"]


def user_config_path() -> Path:
    """``$NORA_HOME/assist.yaml`` — the lab's (or user's) choice of backend and settings."""
    return nora_config.nora_home() / "assist.yaml"


def _python(section: dict[str, Any]) -> dict[str, Any]:
    return {str(k).replace("-", "_"): v for k, v in section.items()}


def settings(backend: str | None = None, **overrides: Any) -> tuple[str, dict[str, Any]]:
    """The backend in force and its settings (keyword names, a fresh dict).

    Raises
    ------
    ConfigError
        For an unknown backend or a malformed ``assist.yaml``.
    """
    path = user_config_path()
    user = nora_config.read_yaml_mapping(path)
    user = user.get("assist", user)
    if not isinstance(user, dict):
        raise ConfigError(f"{path}: 'assist' must be a mapping of settings")
    chosen = backend or user.get("backend") or _shipped()["backend"]
    if chosen not in BACKENDS:
        raise ConfigError(f"assistant backend {chosen!r}: expected one of "
                          f"{', '.join(BACKENDS)} (set it in {path} or pass backend=...)")
    section = _python(_shipped().get(chosen) or {})
    mine = user.get(chosen) or {}
    if not isinstance(mine, dict):
        raise ConfigError(f"{path}: '{chosen}' must be a mapping of settings")
    section.update(_python(mine))
    section.update(_python(overrides))
    return chosen, section
