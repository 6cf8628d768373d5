"""Verify generated Verilog against the golden model with cocotb (Verilator or Icarus)."""

from ..simulators import find_simulator
from .runner import VerifyResult, verify

__all__ = ["VerifyResult", "verify", "find_simulator"]
