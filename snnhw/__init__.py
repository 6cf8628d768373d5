"""snnhw: spiking neural networks that learn on FPGAs, from one TOML config to verified RTL."""

from .config import Config, load_config, parse_config
from .errors import ConfigError, InputError, SnnhwError, ToolError
from .families import resolve, resolve_layer
from .ir import LayerIR, LearningLayerIR, NetworkIR

__version__ = "0.1.0"

__all__ = ["Config", "load_config", "parse_config", "LayerIR", "LearningLayerIR", "NetworkIR",
           "resolve", "resolve_layer", "SnnhwError",
           "ConfigError", "InputError", "ToolError", "__version__"]
