"""Batch settings, layered: shipped ``batch.yaml`` → ``$NORA_HOME/batch.yaml`` → keywords.

>>> cfg = settings(backend="slurm", memory="4GB")          # doctest: +SKIP
>>> cfg["backend"], cfg["slurm"]["memory"]                  # doctest: +SKIP
('slurm', '4GB')

Keys are written with dashes in YAML (``max-attempts``), with underscores or dashes
in keyword arguments. A keyword that names a top-level key sets it; any other keyword
goes to the chosen backend's section (``memory=``, ``walltime=``, ``n_workers=`` …).
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from nora_lab import config as nora_config
from nora_lab.errors import ConfigError

__all__ = ["settings", "BACKENDS", "user_config_path", "queue_name"]

BACKENDS = ("local", "slurm", "sge")
_SHIPPED = Path(__file__).with_name("batch.yaml")


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    return yaml.safe_load(_SHIPPED.read_text())["batch"]


def user_config_path() -> Path:
    """``$NORA_HOME/batch.yaml``."""
    return nora_config.nora_home() / "batch.yaml"


def _dash(key: str) -> str:
    return key.replace("_", "-")


def _merge(base: dict[str, Any], over: dict[str, Any], where: str) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        k = _dash(str(k))
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "scheduler-options":
            out[k] = _merge(out[k], v, f"{where}.{k}")
        else:
            out[k] = v
    return out


def _user() -> dict[str, Any]:
    path = user_config_path()
    data = nora_config.read_yaml_mapping(path)
    data = data.get("batch", data)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: 'batch' must be a mapping of settings")
    return data


def settings(**overrides: Any) -> dict[str, Any]:
    """The batch settings in force (a fresh dict; change it freely).

    Parameters
    ----------
    **overrides
        ``backend=``, any top-level key (``max_attempts=``), or settings of the
        chosen backend (``memory="4GB"``, ``queue="import"``, ``n_workers=2``).

    Raises
    ------
    ConfigError
        For an unknown backend or a malformed user file.
    """
    cfg = _merge(copy.deepcopy(_shipped()), _user(), "batch")
    backend = overrides.pop("backend", None) or cfg["backend"]
    if backend not in BACKENDS:
        raise ConfigError(f"batch backend {backend!r}: expected one of {', '.join(BACKENDS)} "
                          f"(set it in {user_config_path()} or pass backend=…)")
    cfg["backend"] = backend
    top: dict[str, Any] = {}
    section: dict[str, Any] = {}
    for k, v in overrides.items():
        (top if _dash(k) in cfg and _dash(k) not in BACKENDS else section)[k] = v
    cfg = _merge(cfg, top, "batch")
    cfg[backend] = _merge(cfg.get(backend) or {}, section, backend)
    return cfg


def queue_name(cfg: dict[str, Any], queue: str | None) -> str | None:
    """A NORA queue name (``processing``, ``import``) → the scheduler's partition."""
    if queue is None:
        return None
    return (cfg.get("queues") or {}).get(queue, queue)
