"""EVM chain access shared by connectors, settlement and the devnet.

``rpc``: a lean ``AsyncWeb3`` client, local signing with explicit nonces,
millisecond receipt polling, raw JSON-RPC batches, and the translation of
transport and revert failures into :mod:`aggregator.errors`.
"""

from aggregator.chain.rpc import (
    ChainHead,
    Fees,
    RpcCall,
    SignedTx,
    TxSender,
    Web3Client,
    chain_head,
    close_web3,
    gas_with_margin,
    make_web3,
    require_success,
    rpc_batch,
    rpc_errors,
    send_raw,
    send_raw_batch,
    suggest_fees,
    translate_error,
    wait_receipt,
)

__all__ = [
    "ChainHead",
    "Fees",
    "RpcCall",
    "SignedTx",
    "TxSender",
    "Web3Client",
    "chain_head",
    "close_web3",
    "gas_with_margin",
    "make_web3",
    "require_success",
    "rpc_batch",
    "rpc_errors",
    "send_raw",
    "send_raw_batch",
    "suggest_fees",
    "translate_error",
    "wait_receipt",
]
