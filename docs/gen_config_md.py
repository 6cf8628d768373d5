"""Regenerate the reference tables of docs/config.md from snnhw.config.SCHEMA.

Usage: ``python docs/gen_config_md.py`` rewrites, in place, the text between
``<!-- BEGIN GENERATED -->`` and ``<!-- END GENERATED -->``; ``--check`` only reports whether
it is stale (exit status 1) and writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from snnhw.config import config_markdown

BEGIN, END = "<!-- BEGIN GENERATED -->", "<!-- END GENERATED -->"
CONFIG_MD = Path(__file__).resolve().parent / "config.md"


def regenerate(text: str) -> str:
    """``text`` with its generated section replaced by the current :func:`config_markdown`."""
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise ValueError(f"expected exactly one {BEGIN} and one {END} marker")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n\n{config_markdown().strip()}\n\n{END}{tail}"


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
