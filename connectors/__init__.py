"""First-party connector plugins."""
