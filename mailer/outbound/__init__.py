"""Outbound HTTP: the address policy and the one guarded fetcher."""
