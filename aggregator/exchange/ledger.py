"""Account balances of the exchange: free and locked base units per asset.

Placing an order moves its reservation from free to locked; every trade moves locked
funds of one account to the free funds of the other (less the fee, which goes to the fee
account), so the total of each asset over all accounts only changes by deposits and
withdrawals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aggregator.errors import ValidationError
from aggregator.exchange.errors import OrderRejectedError

__all__ = ["Account", "Balance", "Ledger"]


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: int
    locked: int


class Account:
    """One account's balances (mutable, owned by the engine)."""

    __slots__ = ("free", "locked", "name")

    def __init__(self, name: str, assets: Iterable[str]) -> None:
        self.name = name
        self.free: dict[str, int] = dict.fromkeys(assets, 0)
        self.locked: dict[str, int] = dict.fromkeys(self.free, 0)

    def lock(self, asset: str, amount: int) -> None:
        if self.free[asset] < amount:
            raise OrderRejectedError("Account has insufficient balance for requested action.")
        self.free[asset] -= amount
        self.locked[asset] += amount

    def unlock(self, asset: str, amount: int) -> None:
        self.locked[asset] -= amount
        self.free[asset] += amount


class Ledger:
    """All accounts, by name, over a fixed set of assets."""

    __slots__ = ("_accounts", "assets")

    def __init__(self, assets: Iterable[str]) -> None:
        self.assets: tuple[str, ...] = tuple(assets)
        self._accounts: dict[str, Account] = {}

    def open(self, name: str, balances: Mapping[str, int] | None = None) -> Account:
        """Create an account (or return the existing one) and deposit ``balances``."""
        account = self._accounts.get(name)
        if account is None:
            account = self._accounts[name] = Account(name, self.assets)
        for asset, amount in (balances or {}).items():
            self.deposit(name, asset, amount)
        return account

    @property
    def accounts(self) -> dict[str, Account]:
        """The live accounts by name (the engine settles trades on them directly)."""
        return self._accounts

    def __contains__(self, name: object) -> bool:
        return name in self._accounts

    def __getitem__(self, name: str) -> Account:
        return self._accounts[name]

    def names(self) -> list[str]:
        return list(self._accounts)

    def deposit(self, name: str, asset: str, amount: int) -> None:
        if asset not in self.assets:
            raise ValidationError(f"unknown asset {asset!r}")
        if amount < 0:
            raise ValidationError("a deposit must not be negative")
        self._accounts[name].free[asset] += amount

    def withdraw(self, name: str, asset: str, amount: int) -> None:
        account = self._accounts[name]
        if amount < 0 or account.free.get(asset, 0) < amount:
            raise OrderRejectedError("Account has insufficient balance for requested action.")
        account.free[asset] -= amount

    def balances(self, name: str) -> list[Balance]:
        account = self._accounts[name]
        return [Balance(a, account.free[a], account.locked[a]) for a in self.assets]

    def totals(self) -> dict[str, int]:
        """Each asset's free plus locked units over all accounts."""
        totals = dict.fromkeys(self.assets, 0)
        for account in self._accounts.values():
            for asset in self.assets:
                totals[asset] += account.free[asset] + account.locked[asset]
        return totals
