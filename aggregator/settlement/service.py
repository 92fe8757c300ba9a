"""The settlement API the HTTP layer calls: a firm quote becomes a swap with lock instructions.

``create_swap`` takes the quote (atomically, once), reads both chains' heads,
fixes the absolute timelocks T_A (source chain clock) and T_B (destination
chain clock) from the quote's settlement plan, and persists the swap. The
answer tells the trader exactly what to lock: chain, contract, every term, and
ready calldata for the ``lock`` (and the ERC-20 ``approve`` before it).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping

import aiohttp
from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from aggregator.errors import (
    AggregatorError,
    InvalidAddressError,
    UnknownAssetError,
    ValidationError,
)
from aggregator.journal.config import JournalConfig
from aggregator.journal.outbox import Outbox
from aggregator.models.quote import Quote
from aggregator.models.units import now_ns
from aggregator.settlement.chain import ChainClient, RpcCounter, new_session
from aggregator.settlement.config import SettlementConfig
from aggregator.settlement.keys import Keys
from aggregator.settlement.quotes import QuoteStore
from aggregator.settlement.store import SwapStore
from aggregator.settlement.swap import Swap, SwapPhase
from aggregator.settlement.terms import (
    HtlcTerms,
    approve_calldata,
    checksum,
    lock_calldata,
    parse_hex32,
)

__all__ = ["LockInstructions", "SettlementService", "SwapTicket"]


class LockInstructions(BaseModel):
    """What the trader sends on the source chain, exactly."""

    model_config = ConfigDict(frozen=True)

    chain: str
    chain_id: int
    htlc: str
    terms: HtlcTerms = Field(description="Every term of the lock; its id is the swap id.")
    calldata: str = Field(description="0x-hex calldata of lock(...) on the HTLC.")
    value: int = Field(description="Wei to send with the lock (native coin only).")
    approve_token: str | None = Field(default=None, description="ERC-20 to approve first.")
    approve_calldata: str | None = Field(
        default=None, description="0x-hex calldata of approve(htlc, amount) on the token."
    )


class SwapTicket(BaseModel):
    """The swap as created, and how to lock for it."""

    model_config = ConfigDict(frozen=True)

    swap: Swap
    lock: LockInstructions
    destination: HtlcTerms = Field(description="The resolver's lock the trader will claim.")


class SettlementService:
    """Create and read swaps (see the module docstring)."""

    def __init__(
        self,
        config: SettlementConfig,
        redis: Redis,
        resolver_address: str,
        *,
        outbox: Outbox | None = None,
        quotes: QuoteStore | None = None,
        session: aiohttp.ClientSession | None = None,
        counter: RpcCounter | None = None,
    ) -> None:
        self.config = config
        self.resolver = checksum(resolver_address)
        self.store = SwapStore(redis, outbox or Outbox(JournalConfig()), Keys(config.key_prefix))
        self.quotes = quotes or QuoteStore(redis)
        self._own_session = session is None
        self._session = session or new_session()
        self.clients: Mapping[str, ChainClient] = {
            c.key: ChainClient(c.key, c.chain_id, c.rpc_url, self._session, counter)
            for c in config.chains
        }

    async def close(self) -> None:
        if self._own_session:
            await self._session.close()

    def _token(self, asset: str, chain: str) -> str:
        try:
            tokens = self.config.chain(chain).tokens
        except KeyError:
            raise UnknownAssetError(f"unknown chain {chain!r}", chain=chain) from None
        if asset not in tokens:
            raise UnknownAssetError(f"{asset} has no token on {chain}", asset=asset, chain=chain)
        return tokens[asset]

    async def create_swap(
        self,
        quote_id: str,
        trader_source_address: str,
        trader_destination_address: str,
        hashlock: str,
    ) -> SwapTicket:
        """Turn a firm quote into a swap (see the module docstring).

        Errors: :class:`InvalidAddressError`, :class:`ValidationError` (hashlock),
        :class:`QuoteNotFoundError`, :class:`QuoteExpiredError`,
        :class:`QuoteAlreadyUsedError`, :class:`UnknownAssetError`.
        """
        trader_src = checksum(trader_source_address)
        trader_dst = checksum(trader_destination_address)
        if self.resolver in (trader_src, trader_dst):
            raise InvalidAddressError("the trader cannot be the resolver", address=self.resolver)
        lock_hash = parse_hex32(hashlock)
        if int(lock_hash, 16) == 0:
            raise ValidationError("the hashlock is zero")
        quote = await self.quotes.mark_used(quote_id)
        try:
            return await self._create(quote, trader_src, trader_dst, lock_hash)
        except BaseException:
            await self.quotes.unmark(quote_id)
            raise

    async def _create(
        self, quote: Quote, trader_src: str, trader_dst: str, hashlock: str
    ) -> SwapTicket:
        plan = quote.settlement
        if plan.destination_timelock_s >= plan.source_timelock_s:
            raise ValidationError("the quote's T_B is not shorter than its T_A")
        src_chain = self.config.chain(plan.source_chain)
        dst_chain = self.config.chain(plan.destination_chain)
        sell, buy = quote.request.sell.asset, quote.request.buy.asset
        src_head, dst_head = await asyncio.gather(
            self.clients[src_chain.key].head(), self.clients[dst_chain.key].head()
        )
        # The plan's durations run from the locks; the trader may lock up to the lock
        # window later and the resolver waits for confirmations and reacts: push both
        # timelocks back by that much so neither side's window shrinks.
        wait = self.config.timelocks.resolver_reaction_s + math.ceil(
            src_chain.confirmations * src_chain.block_time_s
        )
        slack = self.config.lock_window_s + wait
        source = HtlcTerms(
            chain=src_chain.key,
            chain_id=src_chain.chain_id,
            htlc=src_chain.htlc,
            sender=trader_src,
            recipient=self.resolver,
            token=self._token(sell, src_chain.key),
            amount=quote.amount_in,
            hashlock=hashlock,
            timelock=src_head.timestamp + slack + plan.source_timelock_s,
        )
        destination = HtlcTerms(
            chain=dst_chain.key,
            chain_id=dst_chain.chain_id,
            htlc=dst_chain.htlc,
            sender=self.resolver,
            recipient=trader_dst,
            token=self._token(buy, dst_chain.key),
            amount=quote.amount_out,
            hashlock=hashlock,
            timelock=dst_head.timestamp + slack + plan.destination_timelock_s,
        )
        stamp = now_ns()
        swap = Swap(
            id=source.id,
            version=1,
            phase=SwapPhase.AWAITING_SOURCE_LOCK,
            quote_id=quote.id,
            source=source,
            destination=destination,
            lock_deadline=src_head.timestamp + self.config.lock_window_s,
            created_ns=stamp,
            updated_ns=stamp,
        )
        swap = await self.store.create(swap, plan=quote.paths)
        approve = None if source.native else approve_calldata(source.htlc, source.amount)
        lock = LockInstructions(
            chain=source.chain,
            chain_id=source.chain_id,
            htlc=source.htlc,
            terms=source,
            calldata="0x" + lock_calldata(source).hex(),
            value=source.value,
            approve_token=None if source.native else source.token,
            approve_calldata=None if approve is None else "0x" + approve.hex(),
        )
        return SwapTicket(swap=swap, lock=lock, destination=destination)

    async def get_swap(self, swap_id: str) -> Swap:
        """The swap; :class:`SwapNotFoundError` if unknown."""
        try:
            key = parse_hex32(swap_id)
        except AggregatorError:
            key = swap_id
        return await self.store.get(key)

    async def list_swaps(self, phase: SwapPhase | None = None, limit: int = 100) -> list[Swap]:
        return await self.store.list_swaps(phase, limit)
