"""How sizes, times and fractions are written for people: one place for the CLI and the reports."""

from __future__ import annotations


def format_size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f}".rstrip("0").rstrip(".") + f" {unit}"
    return f"{n} B"


def format_value(value: float, unit: str) -> str:
    """``unit`` is one of the budget units: bytes, ms, fraction (shown in points, as budgets
    of accuracy are read)."""
    if unit == "bytes":
        return format_size(int(value))
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "fraction":
        return f"{100 * value:.2f} pt"
    return f"{value:g} {unit}"
