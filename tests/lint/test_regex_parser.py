"""The private stdlib regex parser (`re._parser`, `re._constants`) still has the shape three modules read.

`engine/lint/regex.py`, `engine/regex_dialect.py` and `engine/regexguard.py` read patterns
with the parser `re` itself uses, so they agree with `re` on every pattern; no public API
gives its parse tree. It moved once (`sre_parse` became `re._parser` in Python 3.11, the
oldest version pyproject allows). If a new Python moves or reshapes it, this test fails
first and names what changed, rather than a lint or a regex guard failing obscurely.
"""

from __future__ import annotations

import importlib
import sys

OPCODES = ("LITERAL", "ANY", "IN", "SUBPATTERN", "BRANCH", "MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT",
           "AT", "AT_BEGINNING", "AT_END", "AT_END_STRING", "NEGATE", "RANGE", "CATEGORY", "CATEGORY_DIGIT",
           "CATEGORY_WORD", "CATEGORY_SPACE", "ASSERT", "ASSERT_NOT", "GROUPREF_EXISTS", "SRE_FLAG_UNICODE",
           "MAXREPEAT")


def test_the_private_regex_parser_has_the_names_and_tree_shape_the_engine_reads() -> None:
    parser = importlib.import_module("re._parser")
    constants = importlib.import_module("re._constants")
    missing = [name for name in OPCODES if not hasattr(constants, name)]
    assert not missing, f"Python {sys.version_info[:2]}: re._constants lacks {missing}"
    assert parser.MAXREPEAT == constants.MAXREPEAT
    tree = parser.parse("^(a|b)+[0-9]?$")
    assert tree.state.flags & constants.SRE_FLAG_UNICODE
    ops = [(str(op), av) for op, av in tree]
    assert [name for name, _ in ops] == ["AT", "MAX_REPEAT", "MAX_REPEAT", "AT"]
    low, high, body = ops[1][1]
    assert (low, high) == (1, parser.MAXREPEAT) and str(next(iter(body))[0]) == "SUBPATTERN"
