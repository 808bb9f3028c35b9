"""The headline figures of each evaluation protocol: what `compare` and seed summaries show.

Every protocol writes its own ``metrics.json``; a `Headline` names the few numbers a reader
weighs across runs and seeds, and reads them from one metrics dict:

- protocol v2 (the attractor's invariants, `_evaluate`; its metrics have no ``protocol`` key):
  D_stsp and D_H beside their floors, λ_max and its relative error, VPT, collapsed and
  diverged runs;
- ``field_forecast`` (2-D fields, `_evaluate_field`): relative L2 over all leads, at lead 1 and
  at the last lead, persistence's relative L2, the energy-spectrum error, the correlation time
  and the failed forecasts;
- ``forecast_skill`` (driven river grids, `_forecast_skill`): NSE, KGE and KGE′ at leads 1, 3
  and the last, persistence's and climatology's NSE at those leads, and the future forcing
  that drove the forecasts (``climatology`` or the ``observed`` perfect-forcing hindcast).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ._evaluate import ATTRACTOR_PROTOCOL
from ._evaluate_field import FIELD_PROTOCOL, FIELD_PROTOCOL_VERSION
from ._forecast_skill import SKILL_PROTOCOL, SKILL_PROTOCOL_VERSION
from .metrics import PROTOCOL_VERSION


@dataclass(frozen=True)
class Headline:
    """The headline figures of one evaluation protocol.

    Attributes:
        protocol: the metrics' ``protocol`` (``attractor`` for protocol v2, whose metrics name none).
        version: its current ``protocol_version``; older metrics are re-evaluated, not compared.
        figures: a metrics dict -> {column: value} for every column below; a number that is
            missing or not finite becomes None.
        columns: the per-run columns of a comparison, in order.
        family: the numbers of a comparison's per-family rows (medians over a family's runs).
        summary: the numbers of a seed summary (median ± MAD over the seeds).
        alike: top-level metrics keys, besides ``test_data``, that two runs must share to be
            compared (a perfect-forcing hindcast is not a forecast).
        noun: what a headline figure is called in a seed summary.
        note: the line under a comparison's run table.
        brief: figures -> the one-line account of a seed as it ends.
    """

    protocol: str
    version: int
    figures: Callable[[dict], dict]
    columns: tuple[str, ...]
    family: tuple[str, ...]
    summary: tuple[str, ...]
    alike: tuple[str, ...]
    noun: str
    note: str
    brief: Callable[[dict], str]


def metrics_protocol(metrics: dict) -> str:
    """The name of the protocol that wrote `metrics` (protocol v2's metrics name none: ``attractor``)."""
    return metrics.get("protocol", ATTRACTOR_PROTOCOL)


def headline_of(metrics: dict) -> Headline | None:
    """The headline of the protocol that wrote `metrics` (whatever its version); None if unknown."""
    return HEADLINES.get(metrics_protocol(metrics))


def is_current(metrics: dict) -> bool:
    """Whether `metrics` were written by the current version of a known protocol."""
    headline = headline_of(metrics)
    return headline is not None and metrics.get("protocol_version") == headline.version


def protocol_text(metrics: dict) -> str:
    """The protocol of `metrics` in words: ``protocol version 2``, ``protocol field_forecast version 1``."""
    name = metrics.get("protocol")
    return f"protocol {name + ' ' if name else ''}version {metrics.get('protocol_version')}"


def number(value) -> int | float | None:
    """`value` if it is a finite number (ints stay ints: they are counts), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def attractor_figures(metrics: dict) -> dict:
    """Protocol v2's invariants with the excess over each floor; ``lyap_rel_error`` is
    |λ - λ_ref| / |λ_ref|."""
    def minus(a, b):
        return None if a is None or b is None else a - b

    n = {key: number(metrics.get(key)) for key in (
        "d_stsp", "d_stsp_floor", "d_h", "d_h_floor", "lyap_max", "lyap_max_reference", "vpt", "n_ics",
        "n_collapsed", "n_diverged")}
    lyap, reference = n["lyap_max"], n["lyap_max_reference"]
    return {**n, "vpt_unit": metrics.get("vpt_unit"),
            "d_stsp_excess": minus(n["d_stsp"], n["d_stsp_floor"]), "d_h_excess": minus(n["d_h"], n["d_h_floor"]),
            "lyap_rel_error": abs(lyap - reference) / abs(reference) if lyap is not None and reference else None}


def field_figures(metrics: dict) -> dict:
    """The field protocol's forecast errors, the model's beside persistence's relative L2."""
    by_lead = metrics.get("rel_l2_by_lead") or []
    persistence = metrics.get("persistence") or {}
    return {"rel_l2": number(metrics.get("rel_l2")),
            "rel_l2_lead1": number(by_lead[0]) if by_lead else None,
            "rel_l2_last": number(by_lead[-1]) if by_lead else None,
            "last_lead": len(by_lead) or None,
            "persistence_rel_l2": number(persistence.get("rel_l2")),
            **{key: number(metrics.get(key)) for key in (
                "spectrum_error", "correlation_time", "correlation_censored", "n_cases", "n_failed")}}


# The forecast-skill figures at each headline lead: the model's scores, then the references' NSE.
SKILL_SCORES = ("nse", "kge", "kge_prime", "nse_persistence", "nse_climatology")
SKILL_LEADS = ("lead1", "lead3", "last")
SKILL_NUMBERS = tuple(f"{score}_{lead}" for lead in SKILL_LEADS for score in SKILL_SCORES)


def skill_figures(metrics: dict) -> dict:
    """The forecast-skill scores (medians over river cells) at leads 1, 3 and the last; None at a
    lead the evaluation did not reach."""
    by_lead = {entry["lead"]: entry for entry in metrics.get("by_lead") or []}
    last = max(by_lead, default=None)
    out = {"future_forcing": metrics.get("future_forcing"), "last_lead": last}
    for tag, lead in zip(SKILL_LEADS, (1, 3, last)):
        entry = by_lead.get(lead, {})
        out.update({f"{score}_{tag}": number(entry.get(score)) for score in SKILL_SCORES})
    return out


LABELS = {"d_stsp": "D_stsp", "d_stsp_floor": "D_stsp floor", "d_stsp_excess": "D_stsp - floor",
          "d_h": "D_H", "d_h_floor": "D_H floor", "d_h_excess": "D_H - floor", "lyap_max": "λ_max",
          "lyap_max_reference": "λ_max ref", "lyap_rel_error": "λ_max rel. error", "vpt": "VPT",
          "vpt_unit": "VPT unit", "n_ics": "ICs", "n_collapsed": "collapsed", "n_diverged": "diverged",
          "train_seconds": "training [s]", "runs": "runs",
          "rel_l2": "rel. L2", "rel_l2_lead1": "rel. L2 lead 1", "rel_l2_last": "rel. L2 last lead",
          "last_lead": "last lead", "persistence_rel_l2": "persistence rel. L2",
          "spectrum_error": "spectrum error", "correlation_time": "correlation time",
          "correlation_censored": "correlation censored", "n_cases": "cases", "n_failed": "failed",
          "future_forcing": "future forcing",
          **{f"{score}_{tag}": f"{name} {where}"
             for tag, where in zip(SKILL_LEADS, ("lead 1", "lead 3", "last lead"))
             for score, name in zip(SKILL_SCORES, ("NSE", "KGE", "KGE′", "persistence NSE", "climatology NSE"))}}


def cell(value) -> str:
    """A table cell: numbers to 4 significant digits, missing ones as n/a."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _attractor_brief(v: dict) -> str:
    return (f"D_stsp {cell(v.get('d_stsp'))} (floor {cell(v.get('d_stsp_floor'))}) "
            f"D_H {cell(v.get('d_h'))} (floor {cell(v.get('d_h_floor'))}) λ_max {cell(v.get('lyap_max'))} "
            f"VPT {cell(v.get('vpt'))} collapsed {cell(v.get('n_collapsed'))} "
            f"diverged {cell(v.get('n_diverged'))}")


def _listing(*columns: str) -> Callable[[dict], str]:
    """A brief naming each of `columns` and its value."""
    return lambda v: " ".join(f"{LABELS[key]} {cell(v.get(key))}" for key in columns)


HEADLINES = {headline.protocol: headline for headline in (
    Headline(
        ATTRACTOR_PROTOCOL, PROTOCOL_VERSION, attractor_figures,
        columns=("d_stsp", "d_stsp_floor", "d_h", "d_h_floor", "lyap_max", "lyap_max_reference",
                 "lyap_rel_error", "vpt", "vpt_unit", "n_ics", "n_collapsed", "n_diverged"),
        family=("d_stsp", "d_h", "lyap_rel_error", "vpt", "n_collapsed", "n_diverged"),
        summary=("d_stsp", "d_stsp_excess", "d_h", "d_h_excess", "lyap_max", "lyap_rel_error", "vpt",
                 "n_collapsed", "n_diverged"),
        alike=(), noun="invariant", note="VPT: normalized-error threshold (vpt_nrmse).",
        brief=_attractor_brief),
    Headline(
        FIELD_PROTOCOL, FIELD_PROTOCOL_VERSION, field_figures,
        columns=("rel_l2", "rel_l2_lead1", "rel_l2_last", "last_lead", "persistence_rel_l2", "spectrum_error",
                 "correlation_time", "correlation_censored", "n_cases", "n_failed"),
        family=("rel_l2", "rel_l2_lead1", "rel_l2_last", "persistence_rel_l2", "spectrum_error",
                "correlation_time", "n_failed"),
        summary=("rel_l2", "rel_l2_lead1", "rel_l2_last", "persistence_rel_l2", "spectrum_error",
                 "correlation_time", "n_failed"),
        alike=(), noun="metric",
        note="rel. L2: of each case's whole forecast, mean over cases; persistence: the last frame read, "
             "held; correlation time: median over cases, in time units.",
        brief=_listing("rel_l2", "persistence_rel_l2", "correlation_time", "n_failed")),
    Headline(
        SKILL_PROTOCOL, SKILL_PROTOCOL_VERSION, skill_figures,
        columns=("future_forcing", "last_lead", *SKILL_NUMBERS), family=SKILL_NUMBERS, summary=SKILL_NUMBERS,
        alike=("future_forcing", "lead_steps"), noun="metric",
        note="Scores: medians over river cells; persistence: the issue day held; climatology: the "
             "training period's mean of the day of the year.",
        brief=_listing("nse_lead1", "kge_lead1", "nse_last", "kge_last", "future_forcing")),
)}
