"""Frozen values shared by every layer: quantities, world snapshots, actions, burst state.

Nothing in this package performs I/O or reads the clock (enforced by import-linter).
"""
