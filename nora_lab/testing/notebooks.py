"""Run an example notebook top to bottom, as the suite does for every capability."""

from __future__ import annotations

from pathlib import Path

__all__ = ["NOTEBOOKS", "NotebookText", "run_notebook"]

#: the repository's example notebooks
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


class NotebookText(str):
    """The text of a notebook's outputs; ``.outputs`` holds the output dicts themselves."""

    outputs: list[dict]


def run_notebook(name: str | Path, *, cwd: Path | None = None, timeout: int = 180) -> NotebookText:
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
    NotebookText
        The text of every output (streams, results, HTML), for assertions; its
        ``.outputs`` are the raw output dicts (e.g. to look for an ``image/png``).

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
    outputs = [out for cell in nb.cells for out in cell.get("outputs", [])]
    parts = []
    for out in outputs:
        if "text" in out:
            parts.append(out["text"])
        for mime, value in out.get("data", {}).items():
            if mime.startswith("text/") or mime.endswith("json"):
                parts.append(value if isinstance(value, str) else str(value))
    text = NotebookText("\n".join(parts))
    text.outputs = outputs
    return text
