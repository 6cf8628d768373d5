"""The tools' logs while a build runs: the build plan's script run in the background, the
stage (synthesis pass, placement, routing, packing) read from what the tools append to their
logs, reported to a progress hook, and the seconds each stage took."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["NAME", "Progress"]

NAME = "top"  # the design's name inside the build plan: top.il, top.json, top.bin, ...

Progress = Callable[[str, float], None]  # (what runs now, seconds since the build started)


_YOSYS_PASS = re.compile(r"^\d+(?:\.\d+)*\. Executing (\S+) pass")
_NEXTPNR_STAGE = (  # (log line start, stage) in the order nextpnr writes them
    ("Info: Packing", "placement: packing cells"),
    ("Info: Placed", "placement: initial"),
    ("Info: Running main analytical placer", "placement: analytical"),
    ("Info: HeAP", "placement: analytical"),
    ("Info: Running simulated annealing placer", "placement: annealing"),
    ("Info: Running detail placement", "placement: detail"),
    ("Info: Routing", "routing"),
    ("Info: Router2", "routing"),
    ("Info: Running router1", "routing"),
    ("Info: Program finished normally", "packing the bitstream"),
)


class _LogFollower:
    """Reads what the tools appended to their logs since the last call; says the stage."""

    def __init__(self, work: Path) -> None:
        self._files = {"yosys": work / f"{NAME}.rpt", "nextpnr": work / f"{NAME}.tim"}
        self._offsets = dict.fromkeys(self._files, 0)
        self.stage = "synthesis"

    def poll(self) -> str:
        for tool, path in self._files.items():
            try:
                with path.open("rb") as f:
                    f.seek(self._offsets[tool])
                    chunk = f.read()
            except OSError:
                continue
            cut = chunk.rfind(b"\n") + 1
            self._offsets[tool] += cut
            for line in chunk[:cut].decode(errors="replace").splitlines():
                self._line(tool, line)
        return self.stage

    def _line(self, tool: str, line: str) -> None:
        if tool == "yosys":
            m = _YOSYS_PASS.match(line)
            if m and not self.stage.startswith(("placement", "routing", "packing")):
                self.stage = f"synthesis: {m.group(1).lower()}"
            return
        for start, stage in _NEXTPNR_STAGE:
            if line.startswith(start):
                self.stage = stage


def _run_plan(work: Path, env: dict[str, str], progress: Progress | None,
              started: float) -> tuple[int, dict[str, float]]:
    """Run ``build_top.sh`` in ``work``; returns its exit status and seconds per stage."""
    follower = _LogFollower(work)
    stages: dict[str, float] = {}
    last_stage, last_t = None, time.monotonic()
    with (work / "build.log").open("wb") as out:
        proc = subprocess.Popen(["sh", f"build_{NAME}.sh"], cwd=work, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            while True:
                try:
                    code = proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    code = None
                stage = follower.poll()
                now = time.monotonic()
                major = stage.split(":")[0]
                if major != last_stage:
                    if last_stage is not None:
                        stages[last_stage] = stages.get(last_stage, 0.0) + now - last_t
                    last_stage, last_t = major, now
                if progress is not None:
                    progress(stage, now - started)
                if code is not None:
                    stages[last_stage] = stages.get(last_stage, 0.0) + now - last_t
                    return code, {k: round(v, 1) for k, v in stages.items()}
        except BaseException:
            proc.kill()
            proc.wait()
            raise
