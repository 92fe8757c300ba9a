"""EVM chain access shared by connectors, settlement and the devnet.

``rpc``: a lean ``AsyncWeb3`` client, local signing with explicit nonces,
millisecond receipt polling, raw JSON-RPC batches, and the translation of
transport and revert failures into :mod:`aggregator.errors`.

``nonces``: the one nonce authority every sender of an account shares
(:class:`NonceSource`), and the in-memory one for a sole sender.
"""

from aggregator.chain.nonces import (
    NONCE_SOURCE,
    AccountChain,
    LocalNonces,
    NonceSource,
    SendResult,
    nonce_source_from,
)
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
    "NONCE_SOURCE",
    "AccountChain",
    "ChainHead",
    "Fees",
    "LocalNonces",
    "NonceSource",
    "RpcCall",
    "SendResult",
    "SignedTx",
    "TxSender",
    "Web3Client",
    "chain_head",
    "close_web3",
    "gas_with_margin",
    "make_web3",
    "nonce_source_from",
    "require_success",
    "rpc_batch",
    "rpc_errors",
    "send_raw",
    "send_raw_batch",
    "suggest_fees",
    "translate_error",
    "wait_receipt",
]
