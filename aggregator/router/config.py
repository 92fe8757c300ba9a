"""Router configuration: hop limit, caches, gas units, quote lifetime, search precision."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from aggregator.models.timelocks import TimelockPolicy

__all__ = ["RouterConfig"]


class RouterConfig(BaseModel):
    """How the router searches and what it charges; every field documented."""

    model_config = ConfigDict(frozen=True)

    hop_limit: int = Field(
        default=3, ge=1, le=6, description="Most hops in a path; trades and transfers both count."
    )
    max_paths: int = Field(
        default=64, ge=1, description="Most candidate paths kept per request (shortest first)."
    )
    path_cache_size: int = Field(
        default=256, ge=1, description="Entries of the (sell, buy, hop limit, topology) LRU."
    )
    snapshot_cache_size: int = Field(
        default=4, ge=1, description="Snapshots whose precomputed structures are kept."
    )
    book_cache_size: int = Field(
        default=256,
        ge=1,
        description="Book sides whose float and exact models are kept across snapshots "
        "while the book object is unchanged.",
    )
    quote_ttl_s: int = Field(default=30, gt=0, description="Seconds a quote stays valid.")
    chain_trade_gas: int = Field(
        default=120_000, ge=0, description="Gas units of one trade at a chain location (a swap)."
    )
    htlc_lock_gas: int = Field(default=90_000, ge=0, description="Gas units of an HTLC lock.")
    htlc_claim_gas: int = Field(default=60_000, ge=0, description="Gas units of an HTLC claim.")
    search_chunks: int = Field(
        default=16, ge=2, description="Chunks of the first allocation pass of the split search."
    )
    search_refine: int = Field(
        default=4, ge=2, description="Each refinement pass uses chunks this many times smaller."
    )
    search_levels: int = Field(
        default=3,
        ge=0,
        description="Refinement passes after the first; the split is resolved to the order "
        "divided by search_chunks * search_refine ** search_levels.",
    )
    max_drops: int = Field(
        default=4, ge=0, description="Most paths dropped for gas before the split is final."
    )
    exhaustive_paths: int = Field(
        default=4,
        ge=1,
        description="With at most this many paths in use and some not paying for their gas, "
        "every subset of them is tried; with more, paths are dropped or swapped one at a time.",
    )
    firm_attempts: int = Field(
        default=3, ge=1, description="Re-quotes when a firm quote's inventory was taken meanwhile."
    )
    timelocks: TimelockPolicy = Field(
        default_factory=TimelockPolicy, description="Settlement timelock policy for the plan."
    )
