"""Run an example notebook top to bottom, as the suite does for every capability."""

from __future__ import annotations

from pathlib import Path

__all__ = ["NOTEBOOKS", "run_notebook"]

#: the repository's example notebooks
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run_notebook(name: str | Path, *, cwd: Path | None = None, timeout: int = 180) -> str:
    """Execute a notebook with nbclient in a fresh ``python3`` kernel.

    Parameters
    ----------
    name
        A file name in ``notebooks/`` or a path.
    cwd
        The kernel's working directory (default: the notebook's folder).
    timeout
        Seconds allowed per cell.

    Returns
    -------
    str
        The text of every output (streams, results, errors), for assertions.

    Raises
    ------
    AssertionError
        If a cell raised, with the cell's source and the traceback.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(name) if Path(name).is_absolute() else NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or path.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        raise AssertionError(f"{path.name} failed:\n{exc}") from None
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                parts.append(out["text"])
            for value in out.get("data", {}).values():
                parts.append(value if isinstance(value, str) else str(value))
    return "\n".join(parts)
