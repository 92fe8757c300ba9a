"""``aggregator connectors list``: plugins, and instances with their health."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.cli import main
from aggregator.devnet.manifest import DevnetManifest

CONFIG = """
[[connectors]]
name = "syn"
plugin = "synthetic_book"
[connectors.config]
[[connectors.config.markets]]
base = "WETH"
quote = "USDC"
mid = "{mid}"
tick_size = "0.01"
level_size = 1000000000000000000
"""


def _rows(text: str, header: str) -> dict[str, list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = cells
    return rows


def test_lists_installed_plugins_with_version_and_protocol(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["connectors", "list"]) == 0
    plugins = _rows(capsys.readouterr().out, "plugin")
    assert plugins["synthetic_book"][1:] == ["0.1.0", "1", "aggregator-example-connector", "ok"]
    assert plugins["evm_amm"][2:] == ["1", "aggregator", "ok"]


def test_configured_instances_are_started_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "connectors.toml"
    path.write_text(CONFIG.replace("{mid}", "3000"))
    assert main(["connectors", "list", "--config", str(path), "--wait", "5"]) == 0
    instances = _rows(capsys.readouterr().out, "instance")
    _, plugin, markets, status, sequence = instances["syn"][:5]
    assert (plugin, markets, status) == ("synthetic_book", "1", "healthy")
    assert int(sequence) >= 1


def test_an_invalid_instance_is_a_config_error_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "connectors.toml"
    path.write_text(CONFIG.replace("{mid}", "zero"))
    assert main(["connectors", "list", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "error [config_error]: connector 'syn' (plugin 'synthetic_book')" in err
    assert "field 'markets.0.mid'" in err


def test_devnet_instances_report_healthy(
    devnet: DevnetManifest, devnet_state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["connectors", "list", "--devnet-dir", str(devnet_state_dir), "--wait", "10"])
    instances = _rows(capsys.readouterr().out, "instance")
    for chain in devnet.chains:
        row = instances[chain.key]
        assert row[1:4] == ["evm_amm", str(len(chain.pools)), "healthy"], row
    assert code == (0 if all(r[3] == "healthy" for r in instances.values()) else 1)
