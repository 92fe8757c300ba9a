"""The devnet config file and its validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.devnet.config import CONFIG_ENV, default_config_path, load_devnet_config
from aggregator.errors import ConfigError

VALID = """
pool_fee_bps = 30
pool_depth_usd = 1000

[[chains]]
key = "one"
name = "One"
chain_id = 1001
block_time = 1
confirmations = 1
price_offset_bps = 0

[[assets]]
symbol = "USDC"
name = "USD Coin"
decimals = 6
reference_price_usd = "1"

[[assets]]
symbol = "WETH"
name = "Wrapped Ether"
decimals = 18
reference_price_usd = "3000"

[[pools]]
base = "WETH"
quote = "USDC"

[funding.resolver]
native = 1
tokens = { USDC = 5 }

[funding.trader]
native = 1
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "devnet.toml"
    path.write_text(text)
    return path


def test_shipped_config_has_three_distinct_chains_and_the_three_assets() -> None:
    config = load_devnet_config()
    assert len(config.chains) == 3
    assert len({c.chain_id for c in config.chains}) == 3
    assert len({c.name for c in config.chains}) == 3
    assert len({c.price_offset_bps for c in config.chains}) == 3
    assert {a.symbol: a.decimals for a in config.assets} == {"USDC": 6, "WETH": 18, "WBTC": 8}
    assert all(c.block_time >= 1 for c in config.chains)


def test_a_valid_file_loads(tmp_path: Path) -> None:
    config = load_devnet_config(write(tmp_path, VALID))
    assert config.chain("one").chain_id == 1001
    assert config.asset("WETH").reference_price_usd == 3000
    assert config.funding.resolver.tokens == {"USDC": 5}
    assert config.funding.trader.tokens == {}


def test_the_env_variable_points_at_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, VALID)
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert default_config_path() == path
    assert load_devnet_config().chains[0].key == "one"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('reference_price_usd = "3000"', "reference_price_usd = 3000.5"),
        ('reference_price_usd = "3000"', 'reference_price_usd = "0"'),
        ('base = "WETH"', 'base = "WBTC"'),
        ('base = "WETH"', 'base = "USDC"'),
        ("tokens = { USDC = 5 }", "tokens = { DAI = 5 }"),
        ("tokens = { USDC = 5 }", "tokens = { USDC = -5 }"),
        ('key = "one"', 'key = "One Chain"'),
        ("block_time = 1", "block_time = 0"),
        ("pool_fee_bps = 30", "pool_fee_bps = 10000"),
        ("price_offset_bps = 0", "price_offset_bps = -10000"),
        ("confirmations = 1", "confirmations = 1\nunknown_field = 2"),
        ('symbol = "WETH"', 'symbol = "USDC"'),
    ],
)
def test_invalid_values_are_refused_with_a_config_error(tmp_path: Path, old: str, new: str) -> None:
    assert old in VALID
    with pytest.raises(ConfigError):
        load_devnet_config(write(tmp_path, VALID.replace(old, new, 1)))


def test_duplicate_chain_ids_are_refused(tmp_path: Path) -> None:
    second = VALID[VALID.index("[[chains]]") : VALID.index("[[assets]]")]
    text = VALID.replace(second, second + second.replace('"one"', '"two"').replace("One", "Two"))
    with pytest.raises(ConfigError, match="invalid devnet config"):
        load_devnet_config(write(tmp_path, text))
    unique = text.replace("chain_id = 1001", "chain_id = 1002", 1)
    assert len(load_devnet_config(write(tmp_path, unique)).chains) == 2


def test_missing_or_malformed_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_devnet_config(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_devnet_config(write(tmp_path, "chains = [[["))
