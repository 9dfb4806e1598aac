"""The suite's test data: public datasets at pinned commits, verified file by file.

The manifest (``testdata.json`` beside this module) names each dataset's public
repository, the commit it is pinned to, the files used and a sha256 for every one of
them. :func:`path` finds a verified copy; :func:`fetch` makes one.

Where copies are looked for, in this order:

1. ``$NORA_TESTDATA`` if set, else the cache ``$XDG_CACHE_HOME/nora_lab/testdata``
   (``~/.cache/nora_lab/testdata``) — the folder that :func:`fetch` fills;
2. ``../shared/data`` beside this checkout (an offline mirror, read in place).

Each folder is laid out as the manifest says (``dicom/dcm_qa_nih/In/...``). A copy counts
only when every file of the manifest is there with its sha256: a copy that ``fetch``
verified carries a stamp (sizes and modification times), anything else is hashed once per
process. A download goes into a hidden ``.partial-*`` folder beside its destination and
is renamed into place only when every file is verified, so an interrupted download never
leaves a half-filled dataset; a later fetch removes what a killed one left.

Command line (``make testdata`` runs the first form)::

    python -m nora_lab.testing.testdata fetch [NAME ...] [--into DIR] [--url BASE]
    python -m nora_lab.testing.testdata list
    python -m nora_lab.testing.testdata manifest --from DIR   # maintainers: rehash a tree
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import http.client
import json
import os
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nora_lab.errors import DatasetError

__all__ = ["Dataset", "datasets", "path", "dicom_root", "require", "fetch", "roots", "DEFAULT_URL",
           "MANIFEST", "FETCH_COMMAND"]

MANIFEST = Path(__file__).with_name("testdata.json")
#: where files are downloaded from: ``{url}/{repo}/{commit}/{path}``; ``$NORA_TESTDATA_URL``
DEFAULT_URL = "https://raw.githubusercontent.com"
#: what a user runs to get the data (named in every "missing" message)
FETCH_COMMAND = "make testdata"
STAMP = ".nora-testdata.json"
_CHUNK = 1 << 20
_verified: dict[tuple[str, str], bool] = {}
_dicom_root: Path | None = None


@dataclass(frozen=True)
class Dataset:
    """One public dataset of the manifest.

    Attributes
    ----------
    name
        The manifest's key (``"dcm_qa_nih"``).
    repo, commit
        The public repository (``owner/name``) and the commit its files come from.
    folder
        Where the dataset lies inside a test-data folder (``"dicom/dcm_qa_nih"``).
    files
        Relative path → (size in bytes, sha256) of every file used.
    """

    name: str
    repo: str
    commit: str
    folder: str
    license: str
    description: str
    files: dict[str, tuple[int, str]]

    @functools.cached_property
    def digest(self) -> str:
        """A sha256 over the manifest entry: a stamp made for another entry never counts."""
        text = json.dumps([self.repo, self.commit, sorted(self.files.items())])
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def size(self) -> int:
        return sum(size for size, _ in self.files.values())

    def __str__(self) -> str:
        return f"{self.name} ({self.repo} @ {self.commit[:12]})"


@functools.cache
def datasets(manifest: Path = MANIFEST) -> dict[str, Dataset]:
    """Every dataset of the manifest, by name (read once per process)."""
    raw = json.loads(Path(manifest).read_text())
    return {name: Dataset(name=name, repo=d["repo"], commit=d["commit"], folder=d["folder"],
                          license=d["license"], description=d["description"],
                          files={p: (int(s), h) for p, (s, h) in d["files"].items()})
            for name, d in raw["datasets"].items()}


def _dataset(name: str | Dataset) -> Dataset:
    if isinstance(name, Dataset):
        return name
    known = datasets()
    if name not in known:
        raise DatasetError(f"no test dataset named {name!r} in {MANIFEST.name}; "
                           f"expected one of {', '.join(sorted(known))}")
    return known[name]


def cache_dir() -> Path:
    """The folder :func:`fetch` fills: ``$NORA_TESTDATA``, else the user's cache."""
    if os.environ.get("NORA_TESTDATA"):
        return Path(os.environ["NORA_TESTDATA"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nora_lab" / "testdata"


def shared_mirror() -> Path:
    """``../shared/data`` beside the checkout this package was installed from."""
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def roots() -> list[Path]:
    """The folders searched for verified copies, first match wins."""
    return [cache_dir(), shared_mirror()]


# --- verifying ----------------------------------------------------------------------------

def _sha256(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _stat_key(file: Path) -> list[int]:
    st = file.stat()
    return [st.st_size, st.st_mtime_ns]


def _stamp_holds(ds: Dataset, where: Path) -> bool:
    try:
        stamp = json.loads((where / STAMP).read_text())
        if stamp.get("digest") != ds.digest:
            return False
        return all(_stat_key(where / rel) == stamp["stat"][rel] for rel in ds.files)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _problems(ds: Dataset, where: Path, *, limit: int = 3) -> list[str]:
    """What is wrong with the copy in ``where`` (at most ``limit`` findings)."""
    found = []
    for rel, (size, digest) in ds.files.items():
        file = where / rel
        if not file.is_file():
            found.append(f"{file}: missing")
        elif file.stat().st_size != size:
            found.append(f"{file}: {file.stat().st_size} bytes, expected {size}")
        elif _sha256(file) != digest:
            found.append(f"{file}: sha256 differs from the manifest")
        if len(found) >= limit:
            break
    return found


def is_verified(ds: str | Dataset, where: Path, *, full: bool = False) -> bool:
    """Whether ``where`` holds every file of ``ds`` with the manifest's sha256.

    A stamp written by :func:`fetch` stands for the hashes while no file's size or
    modification time changed; ``full=True`` hashes every file regardless.
    """
    ds = _dataset(ds)
    where = Path(where)
    key = (ds.digest, str(where))
    if not full and (key in _verified or _stamp_holds(ds, where)):
        return True
    if not where.is_dir() or _problems(ds, where, limit=1):
        return False
    _verified[key] = True
    return True


def _write_stamp(ds: Dataset, where: Path) -> None:
    stamp = {"dataset": ds.name, "repo": ds.repo, "commit": ds.commit, "digest": ds.digest,
             "stat": {rel: _stat_key(where / rel) for rel in ds.files}}
    (where / STAMP).write_text(json.dumps(stamp))


# --- finding ------------------------------------------------------------------------------

def _missing_message(ds: Dataset) -> str:
    searched = " and ".join(str(r / ds.folder) for r in roots())
    return (f"test dataset {ds} is missing (looked in {searched}): run `{FETCH_COMMAND}` "
            f"to fetch it, or set NORA_TESTDATA to a folder that holds verified copies")


def path(name: str) -> Path:
    """The folder of a verified copy of dataset ``name``.

    Raises
    ------
    DatasetError
        No searched folder holds a verified copy; the message names the dataset and the
        command that fetches it.
    """
    ds = _dataset(name)
    for root in roots():
        where = root / ds.folder
        if is_verified(ds, where):
            return where
    raise DatasetError(_missing_message(ds))


def dicom_root() -> Path:
    """A folder holding every DICOM dataset by name (``dicom_root() / "dcm_qa_ts" / "In"``).

    Usually the ``dicom`` folder of the one place that holds them all; when the verified
    copies lie in different places, a folder of links to them (made once per process).
    """
    global _dicom_root
    found = {name: path(name) for name, ds in datasets().items() if ds.folder.startswith("dicom/")}
    parents = {p.parent for p in found.values()}
    if len(parents) == 1 and all(p.name == name for name, p in found.items()):
        return parents.pop()
    if _dicom_root is None:
        _dicom_root = Path(tempfile.mkdtemp(prefix="nora-testdata-"))
        for name, where in found.items():
            (_dicom_root / name).symlink_to(where, target_is_directory=True)
    return _dicom_root


def require(names: Iterable[str] | None = None) -> dict[str, Path]:
    """:func:`path` of every dataset (or of ``names``); raises for the first one missing."""
    return {name: path(name) for name in (datasets() if names is None else names)}


# --- fetching -----------------------------------------------------------------------------

@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_stale_partials(parent: Path) -> None:
    """Remove ``.partial-*`` folders that a killed fetch left (we hold the lock)."""
    for stale in parent.glob(".partial-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _download(url: str, dest: Path, size: int, digest: str, timeout: float) -> None:
    h = hashlib.sha256()
    got = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(dest, "wb") as out:
            while chunk := resp.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
                got += len(chunk)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DatasetError(f"could not download {url}: {reason}") from exc
    if got != size:
        raise DatasetError(f"could not download {url}: the transfer stopped after {got} of "
                           f"{size} bytes")
    if h.hexdigest() != digest:
        raise DatasetError(f"{url}: its sha256 {h.hexdigest()[:16]}… differs from the "
                           f"manifest's {digest[:16]}…; refused")


def _copy(src: Path, dest: Path, size: int, digest: str) -> None:
    shutil.copyfile(src, dest)
    if dest.stat().st_size != size or _sha256(dest) != digest:
        raise DatasetError(f"{src}: its sha256 differs from the manifest's; refused")


def _fill(ds: Dataset, dest: Path, *, source: Path | None, url: str, jobs: int,
          timeout: float) -> None:
    """Make a verified copy of ``ds`` at ``dest``, through a hidden partial folder."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".partial-{ds.name}-", dir=dest.parent))
    try:
        def one(item: tuple[str, tuple[int, str]]) -> None:
            rel, (size, digest) = item
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if source is not None:
                _copy(source / rel, target, size, digest)
            else:
                quoted = urllib.parse.quote(rel)
                _download(f"{url.rstrip('/')}/{ds.repo}/{ds.commit}/{quoted}", target, size,
                          digest, timeout)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(one, item) for item in sorted(ds.files.items())]
            try:
                for fut in futures:
                    fut.result()
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise
        _write_stamp(ds, staging)
        if dest.exists():  # an unverified copy (a hand-made one, or a stale stamp): replace it
            old = dest.parent / f".partial-old-{ds.name}-{os.getpid()}"
            dest.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def fetch(names: Sequence[str] | None = None, *, into: Path | None = None,
          url: str | None = None, jobs: int = 8, timeout: float = 60.0,
          progress: bool = False) -> dict[str, Path]:
    """Make sure a verified copy of each dataset exists; return where each one is.

    Without ``into``, a dataset that any searched folder (:func:`roots`) already holds is
    left where it is; the others are downloaded into :func:`cache_dir`. With ``into``,
    ``into`` gets a copy of its own (from a verified local copy when there is one, else
    downloaded): that is how an offline machine's mirror is made.

    Parameters
    ----------
    names
        Datasets to fetch (default: all of the manifest).
    into
        A folder to fill with copies of its own.
    url
        The base of the download addresses, ``{url}/{repo}/{commit}/{path}`` (default
        ``$NORA_TESTDATA_URL``, else :data:`DEFAULT_URL`). ``file://`` works too.
    jobs
        Files downloaded at once.
    timeout
        Seconds a connection may stay silent.

    Raises
    ------
    DatasetError
        A file could not be downloaded, or its size or sha256 differ from the manifest's;
        nothing of that dataset is left behind.
    """
    url = url or os.environ.get("NORA_TESTDATA_URL") or DEFAULT_URL
    target_root = Path(into) if into is not None else cache_dir()
    chosen = [_dataset(n) for n in (names if names else datasets())]
    found: dict[str, Path] = {}
    if into is None:  # the usual case: everything is here already, touch nothing
        with contextlib.suppress(DatasetError):
            return {ds.name: path(ds.name) for ds in chosen}
    with _locked(target_root):
        _remove_stale_partials(target_root)
        for ds in chosen:
            dest = target_root / ds.folder
            _remove_stale_partials(dest.parent)
            if is_verified(ds, dest):
                found[ds.name] = dest
                continue
            local = next((r / ds.folder for r in roots()
                          if r / ds.folder != dest and is_verified(ds, r / ds.folder)), None)
            if local is not None and into is None:
                found[ds.name] = local
                continue
            if progress:
                how = f"copying from {local}" if local else f"downloading from {url}"
                print(f"{ds}: {len(ds.files)} files, {ds.size / 1e6:.1f} MB, {how}",
                      file=sys.stderr)
            try:
                _fill(ds, dest, source=local, url=url, jobs=jobs, timeout=timeout)
            except DatasetError as exc:
                hint = ("" if not isinstance(exc.__cause__, urllib.error.URLError) else
                        ". Offline? Set NORA_TESTDATA to a folder of verified copies (made on "
                        "a connected machine by `python -m nora_lab.testing.testdata fetch "
                        "--into DIR`)")
                raise DatasetError(f"test dataset {ds} could not be fetched: {exc}{hint}") \
                    from exc.__cause__
            found[ds.name] = dest
    return found


# --- the manifest (maintainers) ------------------------------------------------------------

def rehash(tree: Path, manifest: Path = MANIFEST) -> None:
    """Rewrite the manifest's file hashes from a tree laid out as the manifest says.

    Each dataset keeps its source fields and the paths listed in its ``"uses"`` (files,
    or folders ending in ``/``); only sizes and hashes are recomputed.
    """
    raw = json.loads(Path(manifest).read_text())
    for d in raw["datasets"].values():
        base = Path(tree) / d["folder"]
        files: dict[str, list] = {}
        for use in d["uses"]:
            hits = sorted(p for p in (base / use).rglob("*") if p.is_file()) \
                if use.endswith("/") else [base / use]
            for p in hits:
                files[p.relative_to(base).as_posix()] = [p.stat().st_size, _sha256(p)]
        d["files"] = files
    text = json.dumps(raw, indent=1)
    # each short list on one line ("path": [size, "sha"]): diffs stay readable
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    Path(manifest).write_text(text + "\n")
    datasets.cache_clear()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nora_lab.testing.testdata",
                                     description="Fetch and verify nora_lab's test data.")
    sub = parser.add_subparsers(dest="cmd")
    f = sub.add_parser("fetch", help="make sure every dataset has a verified copy")
    f.add_argument("names", nargs="*", help="datasets (default: all)")
    f.add_argument("--into", type=Path, help="fill this folder with copies of its own")
    f.add_argument("--url", help=f"download base (default $NORA_TESTDATA_URL or {DEFAULT_URL})")
    sub.add_parser("list", help="where each dataset's verified copy is")
    m = sub.add_parser("manifest", help="rehash the manifest from a tree (maintainers)")
    m.add_argument("--from", dest="tree", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.cmd == "manifest":
            rehash(args.tree)
            print(f"rewrote {MANIFEST}")
        elif args.cmd == "list":
            for name, ds in datasets().items():
                try:
                    print(f"{name}\t{path(name)}")
                except DatasetError:
                    print(f"{name}\tmissing ({ds.repo} @ {ds.commit[:12]})")
        else:
            got = fetch(args.names or None, into=getattr(args, "into", None),
                        url=getattr(args, "url", None), progress=True)
            for name, where in got.items():
                print(f"{name}: {where}")
    except DatasetError as exc:
        print(f"nora_lab test data: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
