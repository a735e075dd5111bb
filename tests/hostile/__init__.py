"""Hostile inputs, one module per attack surface (see docs/security.md)."""
