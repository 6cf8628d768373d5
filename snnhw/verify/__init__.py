"""Verify generated Verilog against the golden model with cocotb (Verilator or Icarus)."""

from .runner import VerifyResult, find_simulator, verify

__all__ = ["VerifyResult", "verify", "find_simulator"]
