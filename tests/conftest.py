"""Test configuration: fixture modules are registered as plugins."""

pytest_plugins = [
    "tests.fixtures.processes",
    "tests.fixtures.venue",
    "tests.fixtures.devnet",
    "pytester",
]
