"""snnhw program: bitstream checks, programmer discovery and errors, with a fake programmer
that checks its arguments and the bitstream it is given."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from snnhw.boards import BOARDS, FAMILY_SYNC, get_board
from snnhw.cli import main
from snnhw.errors import InputError

# A fake programmer: records its arguments, checks that the last one is a bitstream carrying
# the family's sync word, and fails like a real one when no board answers ($FAKE_NO_BOARD).
FAKE = """#!/usr/bin/env python3
import os, sys
open(os.environ["FAKE_LOG"], "w").write("\\n".join(sys.argv[1:]))
if os.environ.get("FAKE_NO_BOARD"):
    print("Error: no device found", file=sys.stderr)
    sys.exit(2)
head = open(sys.argv[-1], "rb").read(1024)
sys.exit(0 if bytes.fromhex(os.environ["FAKE_SYNC"]) in head else 3)
"""


def bitstream(tmp_path: Path, family: str) -> Path:
    p = tmp_path / ("top.bin" if family == "ice40" else "top.bit")
    # a comment block, then the sync word, as icepack and ecppack write them
    p.write_bytes(b"\xff\x00snnhw test\x00\xff" + FAMILY_SYNC[family] + bytes(64))
    return p


@pytest.fixture
def fake(tmp_path: Path, monkeypatch) -> Path:
    tool = tmp_path / "fake-programmer"
    tool.write_text(FAKE)
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "args.txt"))
    return tool


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_program_calls_the_boards_programmer(name, tmp_path, fake, monkeypatch, capsys):
    board = BOARDS[name]
    monkeypatch.setenv(board.env, str(fake))
    monkeypatch.setenv("FAKE_SYNC", FAMILY_SYNC[board.family].hex())
    bit = bitstream(tmp_path, board.family)
    assert main(["program", "--board", name, str(bit)]) == 0
    assert (tmp_path / "args.txt").read_text().splitlines() == [*board.args, str(bit)]
    assert f"programmed {board.title}" in capsys.readouterr().out


def test_program_refuses_another_familys_bitstream(tmp_path, fake, monkeypatch, capsys):
    monkeypatch.setenv("ICEPROG", str(fake))
    bit = bitstream(tmp_path, "ecp5")
    assert main(["program", "--board", "icebreaker", str(bit)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an ICE40 bitstream for 1BitSquared iCEBreaker" in err[0]
    assert not (tmp_path / "args.txt").exists(), "the programmer must not run"


@pytest.mark.parametrize("case, message", [
    ("missing-tool", "iceprog not found, needed to program 1BitSquared iCEBreaker: install it "
                     "(sudo apt install --no-install-recommends fpga-icestorm) or set ICEPROG"),
    ("not-executable", "ICEPROG="),
    ("no-board", "iceprog failed on 1BitSquared iCEBreaker (is the board plugged in?): "
                 "Error: no device found"),
    ("missing-bitstream", "cannot read bitstream"),
])
def test_program_errors_are_one_line(case, message, tmp_path, fake, monkeypatch, capsys):
    bit = bitstream(tmp_path, "ice40")
    monkeypatch.setenv("FAKE_SYNC", FAMILY_SYNC["ice40"].hex())
    if case == "missing-tool":
        monkeypatch.delenv("ICEPROG", raising=False)
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    elif case == "not-executable":
        plain = tmp_path / "plain.txt"
        plain.write_text("")
        monkeypatch.setenv("ICEPROG", str(plain))
    else:
        monkeypatch.setenv("ICEPROG", str(fake))
        if case == "no-board":
            monkeypatch.setenv("FAKE_NO_BOARD", "1")
        else:
            bit = tmp_path / "missing.bin"
    assert main(["program", "--board", "icebreaker", str(bit)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_unknown_board():
    with pytest.raises(InputError, match="--board nope: unknown board; known: icebreaker"):
        get_board("nope")
