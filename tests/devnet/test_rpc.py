"""The JSON-RPC helpers in ``aggregator.chain.rpc``, against the devnet and a recording node."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from eth_typing import ChecksumAddress

from aggregator.chain.bindings import HASHED_TIMELOCK, TEST_TOKEN, contract
from aggregator.chain.rpc import (
    RpcCall,
    TxSender,
    Web3Client,
    chain_head,
    close_web3,
    make_web3,
    rpc_batch,
    send_raw,
    send_raw_batch,
    suggest_fees,
    wait_receipt,
)
from aggregator.devnet import DevnetManifest
from aggregator.errors import (
    ChainError,
    ReceiptTimeoutError,
    RpcUnavailableError,
    TransactionRevertedError,
)
from tests.fixtures.processes import free_port

NATIVE = "0x0000000000000000000000000000000000000000"


@pytest.fixture
async def alpha(devnet_snapshot: DevnetManifest) -> AsyncIterator[Web3Client]:
    w3 = await make_web3(devnet_snapshot.chain("alpha").rpc_url)
    yield w3
    await close_web3(w3)


@pytest.fixture
async def recording_node() -> AsyncIterator[tuple[str, list[str]]]:
    """A fake node on loopback that records the method of every request it answers."""
    methods: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        methods.append(body["method"])
        result = {"eth_chainId": "0x1", "eth_call": "0x" + "00" * 31 + "2a"}.get(body["method"])
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": result})

    app = web.Application()
    app.router.add_post("/", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", methods
    await runner.cleanup()


async def test_an_eth_call_costs_exactly_one_request(
    recording_node: tuple[str, list[str]],
) -> None:
    url, methods = recording_node
    w3 = await make_web3(url)
    try:
        token = contract(w3, TEST_TOKEN, "0x" + "11" * 20)
        assert await token.functions.totalSupply().call() == 42
        assert methods == ["eth_call"]
    finally:
        await close_web3(w3)


async def test_an_unreachable_node_is_a_retryable_rpc_unavailable_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    w3 = await make_web3(url)
    try:
        with pytest.raises(RpcUnavailableError) as info:
            await chain_head(w3)
        assert info.value.retryable
        assert info.value.details["url"] == url
    finally:
        await close_web3(w3)
    with pytest.raises(RpcUnavailableError):
        await rpc_batch(url, [RpcCall("eth_blockNumber", [])])


async def test_chain_head_is_the_latest_block(alpha: Web3Client) -> None:
    head = await chain_head(alpha)
    block = await alpha.eth.get_block(head.number)
    assert block["timestamp"] == head.timestamp
    assert await alpha.eth.block_number >= head.number


async def test_a_batch_of_raw_transactions_is_mined_with_consecutive_nonces(
    devnet_snapshot: DevnetManifest, alpha: Web3Client
) -> None:
    rpc_url = devnet_snapshot.chain("alpha").rpc_url
    sender = await TxSender.create(alpha, devnet_snapshot.accounts.trader.local_account())
    to: ChecksumAddress = devnet_snapshot.accounts.resolver.address
    first_nonce = sender.next_nonce
    before = await alpha.eth.get_balance(to)
    fees = await suggest_fees(alpha)
    signed = [sender.sign(to, b"", gas=21_000, fees=fees, value=1_000 + i) for i in range(8)]
    assert [s.nonce for s in signed] == list(range(first_nonce, first_nonce + 8))

    hashes = await send_raw_batch(rpc_url, [s.raw for s in signed])
    assert hashes == [s.hash for s in signed]
    receipts = [await wait_receipt(alpha, h) for h in hashes]
    assert all(r["status"] == 1 for r in receipts)
    assert await alpha.eth.get_balance(to) == before + sum(1_000 + i for i in range(8))
    assert await sender.sync_nonce() == first_nonce + 8


async def test_reverts_surface_as_transaction_reverted_errors(
    devnet_snapshot: DevnetManifest, alpha: Web3Client
) -> None:
    chain = devnet_snapshot.chain("alpha")
    htlc = contract(alpha, HASHED_TIMELOCK, chain.htlc)
    trader = await TxSender.create(alpha, devnet_snapshot.accounts.trader.local_account())
    terms = [trader.address, trader.address, NATIVE, 1, os.urandom(32), 1]
    refund = htlc.encode_abi("refund", terms)

    with pytest.raises(TransactionRevertedError) as estimated:
        await trader.estimate_gas(htlc.address, refund)
    assert estimated.value.details["revert_data"]

    # Sent anyway with an explicit gas limit: mined, failed, and reported as a revert.
    with pytest.raises(TransactionRevertedError) as mined:
        await trader.transact(htlc.address, refund, gas=100_000)
    assert mined.value.details["block_number"] >= 1

    with pytest.raises(TransactionRevertedError) as batched:
        call = {"from": trader.address, "to": htlc.address, "data": refund}
        await rpc_batch(chain.rpc_url, [RpcCall("eth_estimateGas", [call])])
    assert batched.value.details["index"] == 0


async def test_a_refused_submission_resyncs_the_nonce(
    devnet_snapshot: DevnetManifest, alpha: Web3Client
) -> None:
    trader = await TxSender.create(alpha, devnet_snapshot.accounts.trader.local_account())
    nonce = trader.next_nonce
    fortune = 10**30  # more than the account holds
    with pytest.raises(ChainError) as info:
        await trader.transact(devnet_snapshot.accounts.resolver.address, value=fortune, gas=21_000)
    assert not isinstance(info.value, TransactionRevertedError)
    assert info.value.details["rpc_code"] is not None
    assert trader.next_nonce == nonce
    receipt = await trader.transact(devnet_snapshot.accounts.resolver.address, value=1)
    assert receipt["status"] == 1


async def test_waiting_for_an_unknown_transaction_times_out(alpha: Web3Client) -> None:
    with pytest.raises(ReceiptTimeoutError) as info:
        await wait_receipt(alpha, os.urandom(32), timeout=0.05)
    assert info.value.retryable


async def test_send_raw_returns_the_hash_and_the_receipt_follows(
    devnet_snapshot: DevnetManifest, alpha: Web3Client
) -> None:
    trader = await TxSender.create(alpha, devnet_snapshot.accounts.trader.local_account())
    signed = trader.sign(
        devnet_snapshot.accounts.resolver.address,
        b"",
        gas=21_000,
        fees=await suggest_fees(alpha),
        value=5,
    )
    assert await send_raw(alpha, signed.raw) == signed.hash
    receipt = await wait_receipt(alpha, signed.hash)
    assert receipt["transactionHash"] == signed.hash
    assert receipt["gasUsed"] == 21_000


async def test_a_batch_call_to_an_unknown_method_is_a_chain_error_with_its_index(
    devnet: DevnetManifest,
) -> None:
    url = devnet.chains[0].rpc_url
    calls = [RpcCall("eth_blockNumber", []), RpcCall("no_suchMethod", [])]
    with pytest.raises(ChainError) as info:
        await rpc_batch(url, calls)
    assert info.value.details["index"] == 1
    assert json.dumps(info.value.to_dict())  # serializable for logs and the API


@pytest.fixture
async def flaky_node() -> AsyncIterator[tuple[str, list[str]]]:
    """A node that drops the first connection without answering, then answers normally."""
    seen: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        body = json.loads(await reader.readexactly(length))
        seen.append(body["method"])
        if len(seen) > 1:
            answer = json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": "0x2a"}).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(answer)}\r\n\r\n".encode()
                + answer
            )
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", seen
    server.close()
    await server.wait_closed()


async def test_a_read_on_a_dropped_connection_is_resent_once(
    flaky_node: tuple[str, list[str]],
) -> None:
    url, seen = flaky_node
    w3 = await make_web3(url)
    try:
        assert await w3.eth.block_number == 42
        assert seen == ["eth_blockNumber", "eth_blockNumber"]
    finally:
        await close_web3(w3)


async def test_a_send_on_a_dropped_connection_is_not_resent(
    flaky_node: tuple[str, list[str]],
) -> None:
    url, seen = flaky_node
    w3 = await make_web3(url)
    try:
        with pytest.raises(RpcUnavailableError):
            await send_raw(w3, b"\x02" + os.urandom(100))
        assert seen == ["eth_sendRawTransaction"]
    finally:
        await close_web3(w3)
