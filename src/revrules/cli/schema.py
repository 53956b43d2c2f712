"""`revrules schema`: JSON Schemas of the config, rulebook and test files, for editors and CI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from revrules.config import ConfigModel
from revrules.engine.model import RulebookFileModel, TestFileModel
from revrules.errors import ExitCode

KINDS = ("config", "rulebook", "tests")
_TITLES = {"config": "revrules config", "rulebook": "revrules rulebook", "tests": "revrules rulebook tests"}


def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one file kind."""
    models: dict[str, type[BaseModel]] = {"config": ConfigModel, "rulebook": RulebookFileModel, "tests": TestFileModel}
    model = models[kind]
    document: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **model.model_json_schema(),
    }
    document["title"] = _TITLES[kind]
    return document


def file_name(kind: str) -> str:
    """The file a schema is written to with `-o DIR` (and in `revrules init`'s `schemas/`)."""
    return f"{kind}.schema.json"


def render(kind: str) -> str:
    """A schema as the text written to files: stable key order, trailing newline."""
    return json.dumps(schema(kind), indent=2, sort_keys=True) + "\n"


def cmd_schema(args: argparse.Namespace) -> int:
    """`revrules schema [KIND] [-o DIR]`."""
    kinds = [args.kind] if args.kind else list(KINDS)
    if args.out:
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        for kind in kinds:
            (folder / file_name(kind)).write_text(render(kind), encoding="utf-8")
            print(folder / file_name(kind))
    elif args.kind:
        print(render(args.kind), end="")
    else:
        print(json.dumps({kind: schema(kind) for kind in kinds}, indent=2, sort_keys=True))
    return ExitCode.OK
