"""The wheel installs one `revrules` package: the engine, the connectors and the emulators."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {
    "revrules": ROOT / "src" / "revrules",
    "revrules/engine": ROOT / "engine",
    "revrules/connectors": ROOT / "connectors",
}


def _local_backend() -> bool:
    """Whether the build backend can run without downloading anything."""
    return (
        importlib.util.find_spec("wheel") is not None
        and importlib.util.find_spec("setuptools") is not None
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    if importlib.util.find_spec("build") is None:
        pytest.skip("the `build` package is not installed")
    # Build from a copy, so that no build/ or egg-info folder lands in the working tree.
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
    for name in ("src", "engine", "connectors"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0 and not _local_backend():
        pytest.skip(
            "the isolated build could not fetch its backend and `wheel` is not installed locally"
        )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (built,) = dist.glob("revrules-*.whl")
    return zipfile.ZipFile(built)


def _names(wheel: zipfile.ZipFile) -> set[str]:
    return set(wheel.namelist())


@pytest.mark.parametrize("package", ["engine", "connectors", "testing"])
def test_wheel_contains_the_subpackages_under_revrules(
    wheel: zipfile.ZipFile, package: str
) -> None:
    names = _names(wheel)
    assert f"revrules/{package}/__init__.py" in names
    assert len([n for n in names if n.startswith(f"revrules/{package}/") and n.endswith(".py")]) > 1


def test_every_source_module_is_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    names = _names(wheel)
    missing = []
    for prefix, folder in PACKAGE_DIRS.items():
        for module in folder.rglob("*.py"):
            if "__pycache__" in module.parts:
                continue
            relative = module.relative_to(folder)
            packaged = all(
                (folder / Path(*relative.parts[:i]) / "__init__.py").exists()
                for i in range(len(relative.parts))
            )
            if packaged:
                name = f"{prefix}/{relative.as_posix()}"
                if name not in names:
                    missing.append(name)
    assert missing == []


def test_wheel_installs_nothing_at_the_top_level_but_revrules(wheel: zipfile.ZipFile) -> None:
    tops = {
        name.split("/")[0]
        for name in _names(wheel)
        if not name.split("/")[0].endswith(".dist-info")
    }
    assert tops == {"revrules"}
    assert not any(name.startswith(("engine/", "connectors/", "rules/")) for name in _names(wheel))


def test_wheel_declares_the_console_script(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in _names(wheel) if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "revrules = revrules.cli:entry" in text


def test_wheel_carries_the_starter_project(wheel: zipfile.ZipFile) -> None:
    from revrules.cli.scaffold import FILES

    assert {f"revrules/cli/starter/{name}" for name in FILES} <= _names(wheel)
