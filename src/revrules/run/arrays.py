"""JSON arrays of frames' rows, written by polars a slice at a time, one item a line."""

from __future__ import annotations

from typing import IO

import polars as pl

ROW_SEPARATOR = ",\n  "
"""What ends each item of an array but the last: a comma, and the next item's line and indent."""
_WRITTEN_SLICE = 2_500
"""Records polars' streaming engine makes into JSON at a time: a few MB each, so that writing adds little
to the memory the frames hold."""


def write_array(sink: IO[bytes], texts: pl.LazyFrame, count: int) -> None:
    """`count` JSON texts, each one or more items, as one JSON array.

    Each text is written as one line of a CSV file with no quoting whose line ends are the
    array's commas: no part of a document of millions of items becomes a Python string.
    Polars' streaming engine makes and writes the texts `_WRITTEN_SLICE` records at a time
    on every core, in order; the last, which closes the array, is made on its own.
    """
    if not count:
        sink.write(b"[]")
        return
    sink.write(b"[\n  ")
    with pl.Config(streaming_chunk_size=_WRITTEN_SLICE):
        texts.head(count - 1).sink_csv(sink, include_header=False, quote_style="never", line_terminator=ROW_SEPARATOR)
    texts.tail(1).collect().write_csv(sink, include_header=False, quote_style="never", line_terminator="\n ]")


def encoded(frame: pl.DataFrame) -> pl.LazyFrame:
    """Each row of `frame` as the text of a JSON object."""
    return frame.lazy().select(pl.struct(pl.all()).struct.json_encode())
