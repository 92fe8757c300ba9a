"""Multi-chain liquidity aggregator."""

__all__ = ["__version__"]

__version__ = "0.1.0"
