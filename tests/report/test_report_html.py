"""The HTML report opened in a real headless Chromium: charts render, and nothing is fetched from the network."""

from __future__ import annotations

import re
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from revrules.testing.harness import Cli
from tests.report.conftest import HEADER, ROWS

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium); .ci/run installs it")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", *args],
                          capture_output=True, text=True, timeout=60, check=True)


def _png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed (still filtered) image data of a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, width, height = 8, b"", 0, 0
    while position < len(data):
        (length,), kind = struct.unpack(">I", data[position:position + 4]), data[position + 4:position + 8]
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            chunks += body
        position += 12 + length
    return width, height, zlib.decompress(chunks)


@pytest.fixture
def page(project: Path, cli: Cli, tmp_path: Path) -> Path:
    out = tmp_path / "report.html"
    code, stdout, err = cli("report", "-c", project, "-o", out, "--suggest-icp")
    assert code == 0, err
    assert stdout.startswith(f"wrote {out}")
    return out


def test_the_page_is_self_contained(page: Path) -> None:
    text = page.read_text()
    assert not re.search(r"https?://", text), "the page must not name any remote resource"
    targets = re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)""", text)
    assert targets, "the page has its section links"
    assert all(t.startswith("#") for t in targets), "only in-page links (#section)"
    assert "@import" not in text
    assert "url(" not in text
    assert "<script" not in text
    assert text.count("<svg") >= 8


@needs_chromium
def test_chromium_renders_the_charts(page: Path, tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert dom.count("<svg") >= 8
    assert "<rect" in dom
    for heading in ("Summary", "Largest differences", "Rules that never decide", "Segments",
                    "Are the segments real?", "Rule coverage", "Data-driven ICP", "Change since the previous run"):
        assert heading in dom
    # The summary comes before every detail section.
    assert dom.index("Largest differences") < dom.index('id="segments"')
    shot = tmp_path / "report.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri())
    width, height, pixels = _png_pixels(shot)
    assert (width, height) == (1280, 2000)
    # A blank page compresses to a few distinct bytes; text and coloured bars give many.
    assert len(set(pixels)) > 64
    assert shot.stat().st_size > 20_000


@pytest.mark.parametrize("column", HEADER.split(",")[1:])
def test_no_crash_when_a_field_is_blank_everywhere(project: Path, cli: Cli, tmp_path: Path, column: str) -> None:
    blank = HEADER.split(",").index(column)
    rows = [",".join("" if i == blank else v for i, v in enumerate(row)) for row in ROWS]
    (tmp_path / "accounts.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    out = tmp_path / "report.html"
    for args in (["-o", out], ["--json"], ["--format", "csv", "-o", tmp_path / "csv"]):
        result = cli("report", "-c", project, "--suggest-icp", *args)
        assert result.code == 0, result.err
    page = out.read_text()
    assert "Summary" in page
    if column == "MRR":
        assert "<td class=\"n\">—</td>" in page  # no ARR data is unknown, not 0
