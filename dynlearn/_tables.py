"""Metric tables and JSON of evaluations: rounding, differences, CSV and Markdown text."""

from __future__ import annotations

import csv
import io
import math

import numpy as np


def rounded(value):
    """A finite number to 4 decimals; None for missing or non-finite values (shown blank)."""
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else round(float(value), 4)


def difference(a, b):
    """a − b rounded, None when either is missing."""
    return None if rounded(a) is None or rounded(b) is None else round(float(a) - float(b), 4)


def json_safe(obj):
    """`obj` with NumPy scalars as Python numbers and NaN/Inf as None (strict JSON)."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def csv_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def markdown_text(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join("" if r[k] is None else str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"
