"""What-if before apply: the rulebook at a git ref (or in a folder) evaluated on the same records as the current one."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from revrules.engine.definitions import Rulebook
from revrules.engine.rulebook import load_rulebook
from revrules.errors import InvalidInputError
from revrules.project import Project
from revrules.report.kpis import label


def evaluate_at(project: Project, typed: pl.DataFrame, ref: str) -> tuple[Rulebook, pl.DataFrame]:
    """The rulebook at `ref` (a folder of rulebooks, or a git ref of the config's repository), evaluated on `typed`.

    Raises:
        InvalidInputError: `ref` is neither a folder nor a git ref holding the configured rule paths,
            or the rulebook there does not load.
    """
    config = project.config
    folder = Path(ref) if Path(ref).is_absolute() else Path.cwd() / ref
    if folder.is_dir():
        book = load_rulebook([folder], config.field_types())
        return book, Project(config, book).evaluate(typed)
    with tempfile.TemporaryDirectory(prefix="revrules-compare-") as temp:
        sources = _checkout(config.base, ref, config.rule_sources(), Path(temp))
        book = load_rulebook(sources, config.field_types())
    return book, Project(config, book).evaluate(typed)


def _git(cwd: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True, timeout=60)  # noqa: S603, S607 - fixed argv, no shell
    except FileNotFoundError as exc:
        raise InvalidInputError("--compare: git is not installed, and the ref is not a folder") from exc
    except subprocess.CalledProcessError as exc:
        message = exc.stderr.decode(errors="replace").strip().splitlines()
        raise InvalidInputError(f"--compare: git {' '.join(args[:2])}: {message[-1] if message else 'failed'}") from exc
    return done.stdout


def _checkout(base: Path, ref: str, sources: list[Path], into: Path) -> list[Path]:
    """Extract the configured rule files and folders as they are at `ref` into `into`."""
    if ref.startswith("-"):
        raise InvalidInputError(f"--compare {ref}: not a folder or a git ref")
    root = Path(_git(base, "rev-parse", "--show-toplevel").decode().strip())
    _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    relative = []
    for source in sources:
        try:
            relative.append(source.resolve().relative_to(root.resolve()).as_posix())
        except ValueError as exc:
            raise InvalidInputError(f"--compare {ref}: {source} is outside the git repository {root}") from exc
    archive = _git(root, "archive", "--format=tar", ref, "--", *relative)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return [into / r for r in relative]


def migration(before: pl.DataFrame, after: pl.DataFrame, decision: str) -> dict[str, Any]:
    """Records per (value before, value after) of one decision, and how many changed."""
    pairs = pl.DataFrame({"before": before[decision].cast(pl.String), "after": after[decision].cast(pl.String)})
    counts = pairs.group_by("before", "after").len().sort("len", descending=True)
    cells = [{"before": label(b), "after": label(a), "count": int(n)} for b, a, n in counts.iter_rows()]
    moved = sum(int(n) for b, a, n in counts.iter_rows() if label(b) != label(a))
    return {"decision": decision, "records": pairs.height, "moved": moved, "migration": cells}
