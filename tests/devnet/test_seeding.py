"""Pool seeding: integer reserves whose ratio is exactly the target price."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
import rlp  # type: ignore[import-untyped]
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from aggregator.devnet.config import AssetConfig
from aggregator.devnet.deploy import create_address
from aggregator.devnet.seeding import pool_price, seed_reserves
from aggregator.errors import ConfigError


def asset(symbol: str, decimals: int, price: Decimal) -> AssetConfig:
    return AssetConfig(symbol=symbol, name=symbol, decimals=decimals, reference_price_usd=price)


USDC = asset("USDC", 6, Decimal(1))
WETH = asset("WETH", 18, Decimal(3000))


def test_weth_usdc_at_minus_40_bps_is_2988_exactly() -> None:
    assert pool_price(WETH, USDC, -40) == 2988
    reserves = seed_reserves(WETH, USDC, -40, 5_000_000)
    assert Fraction(reserves.quote, 10**6) / Fraction(reserves.base, 10**18) == 2988
    assert 4_999_000 * 10**6 < reserves.quote <= 5_000_000 * 10**6


prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10**6), places=4)


@given(
    base_decimals=st.integers(0, 24),
    quote_decimals=st.integers(0, 24),
    base_price=prices,
    quote_price=prices,
    offset=st.integers(-500, 500),
    depth=st.integers(10**3, 10**9),
)
def test_reserves_ratio_is_the_pool_price_and_quote_side_stays_within_depth(
    base_decimals: int,
    quote_decimals: int,
    base_price: Decimal,
    quote_price: Decimal,
    offset: int,
    depth: int,
) -> None:
    base = asset("BASE", base_decimals, base_price)
    quote = asset("QUOTE", quote_decimals, quote_price)
    try:
        reserves = seed_reserves(base, quote, offset, depth)
    except ConfigError:
        # Only when one price step of the quote side is deeper than the target.
        per_unit = pool_price(base, quote, offset) * 10**quote_decimals / 10**base_decimals
        target = Fraction(depth) / Fraction(quote_price) * 10**quote_decimals
        assert per_unit.numerator > target
        return
    assert reserves.base > 0 and reserves.quote > 0
    ratio = Fraction(reserves.quote, 10**quote_decimals) / Fraction(
        reserves.base, 10**base_decimals
    )
    assert ratio == pool_price(base, quote, offset)
    quote_usd = Fraction(reserves.quote, 10**quote_decimals) * Fraction(quote_price)
    assert quote_usd <= depth


def test_too_shallow_a_pool_for_an_exact_price_is_refused() -> None:
    pricey = asset("BTC", 0, Decimal(60_000))
    with pytest.raises(ConfigError):
        seed_reserves(pricey, USDC, 1, 10)


def test_create_address_matches_known_deployments() -> None:
    deployer = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert create_address(deployer, 0) == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert create_address(deployer, 1) == "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
    # Nonces from 0x80 up take RLP's long form; compare with a reference encoder.
    for nonce in (0x7F, 0x80, 0xFF, 0x100, 0x1_0000, 2**40 + 7):
        encoded = rlp.encode([bytes.fromhex(deployer[2:]), nonce])
        assert create_address(deployer, nonce) == to_checksum_address(keccak(encoded)[12:])
