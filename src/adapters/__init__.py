"""Adapters: concrete implementations of the core's ports (files, TinyDB, bcrypt, clock)."""

from __future__ import annotations

__all__: list[str] = []
