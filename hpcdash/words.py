"""Counted nouns in messages, one rule for the whole package: "1 file", "0 files", "2 processes"."""

from __future__ import annotations

__all__ = ["counted", "plural"]


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """`noun` as it goes with the number `n`: itself for 1, else `plural_form` (default: `noun` + "s")."""
    return noun if n == 1 else (plural_form or noun + "s")


def counted(n: int, noun: str, plural_form: str | None = None) -> str:
    """`n` and `noun` in the form that goes with it: "1 file", "3 files", "2 processes"."""
    return f"{n} {plural(n, noun, plural_form)}"
