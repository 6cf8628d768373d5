"""Regenerate the reference tables of docs/config.md from snnhw.config.SCHEMA and
snnhw.config_conv.CONV_SCHEMA.

Usage: ``python docs/gen_config_md.py`` rewrites, in place, the text between
``<!-- BEGIN GENERATED -->`` and ``<!-- END GENERATED -->`` (and between the ``CONV`` pair of
markers, for conv networks); ``--check`` only reports whether it is stale (exit status 1) and
writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from snnhw.config import config_markdown
from snnhw.config_conv import CONV_SCHEMA, CONV_TITLES

BEGIN, END = "<!-- BEGIN GENERATED -->", "<!-- END GENERATED -->"
CONV_BEGIN, CONV_END = "<!-- BEGIN GENERATED CONV -->", "<!-- END GENERATED CONV -->"
CONFIG_MD = Path(__file__).resolve().parent / "config.md"


def conv_markdown() -> str:
    """The reference tables of conv networks' keys."""
    return config_markdown(CONV_SCHEMA, titles=CONV_TITLES)


def _replace(text: str, begin: str, end: str, body: str) -> str:
    if text.count(begin) != 1 or text.count(end) != 1:
        raise ValueError(f"expected exactly one {begin} and one {end} marker")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n\n{body.strip()}\n\n{end}{tail}"


def regenerate(text: str) -> str:
    """``text`` with its generated sections replaced by the current schemas' tables."""
    text = _replace(text, BEGIN, END, config_markdown())
    return _replace(text, CONV_BEGIN, CONV_END, conv_markdown())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the file is stale instead of rewriting it "
                             "(default: rewrite)")
    parser.add_argument("path", nargs="?", type=Path, default=CONFIG_MD,
                        help="the Markdown file to update (default: docs/config.md)")
    args = parser.parse_args(argv)
    text = args.path.read_text(encoding="utf-8")
    new = regenerate(text)
    if new == text:
        return 0
    if args.check:
        print(f"{args.path} is stale; run: python docs/gen_config_md.py", file=sys.stderr)
        return 1
    args.path.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
