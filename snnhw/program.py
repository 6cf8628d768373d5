"""Load a bitstream into a board with the board's programmer (``snnhw program``).

The programmer is the command named by the board's environment variable (``ICEPROG``,
``OPENFPGALOADER``), else the one on ``PATH``. Before calling it, the bitstream is checked to
be one for the board's FPGA family, so a wrong file never reaches the hardware.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .boards import FAMILY_SYNC, Board
from .errors import InputError, ToolError

__all__ = ["check_bitstream", "find_programmer", "program"]

_HEADER_BYTES = 1024  # the sync word lies within the first bytes, after a short comment


def check_bitstream(path: str | Path, board: Board) -> Path:
    """``path`` if it is a readable bitstream of the board's family, else a one-line
    :class:`InputError`."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            head = f.read(_HEADER_BYTES)
    except OSError as e:
        raise InputError(f"{p}: cannot read bitstream ({e.strerror or e})") from None
    sync = FAMILY_SYNC[board.family]
    if sync not in head:
        raise InputError(f"{p}: not an {board.family.upper()} bitstream for {board.title} "
                         f"(no {sync.hex().upper()} in its first {_HEADER_BYTES} bytes)")
    return p


def find_programmer(board: Board) -> str:
    """The programmer's path: ``$<board.env>`` if set, else ``board.programmer`` on PATH."""
    given = os.environ.get(board.env)
    if given:
        if not (Path(given).is_file() and os.access(given, os.X_OK)):
            raise ToolError(f"{board.env}={given}: not an executable file")
        return given
    found = shutil.which(board.programmer)
    if found is None:
        raise ToolError(f"{board.programmer} not found, needed to program {board.title}: "
                        f"install it ({board.install}) or set {board.env}")
    return found


def program(board: Board, bitstream: str | Path, *, timeout: float = 300) -> list[str]:
    """Check ``bitstream`` and load it with the board's programmer. Returns the command run.

    Raises
    ------
    InputError
        The bitstream is missing or not one for this board's FPGA family.
    ToolError
        The programmer is missing, fails (for example, no board answers) or hangs.
    """
    path = check_bitstream(bitstream, board)
    cmd = [find_programmer(board), *board.args, str(path)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolError(f"{board.programmer} did not finish in {timeout:.0f} s") from None
    if r.returncode != 0:
        lines = [ln.strip() for ln in (r.stderr + r.stdout).splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit status {r.returncode}"
        raise ToolError(f"{board.programmer} failed on {board.title} (is the board plugged "
                        f"in?): {why}")
    return cmd
