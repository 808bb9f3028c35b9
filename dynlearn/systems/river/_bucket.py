"""A one-store soil bucket: rain in; evapotranspiration, saturation excess and drainage out (mm)."""

from __future__ import annotations

from torch import Tensor

_CITATION = "Manabe (1969), Mon. Weather Rev. 97(11):739 (bucket model)"


def bucket_step(
    soil: Tensor, rain: Tensor, pet: Tensor, *, capacity: float, drainage: float
) -> tuple[Tensor, Tensor, Tensor]:
    """One day of the bucket, in mm; conserves water: rain − et − runoff = soil_new − soil.

    In order: rain fills the store; what exceeds `capacity` runs off at once; actual ET is
    potential ET scaled by relative wetness (soil/capacity), so a dry soil evaporates little
    (and never more than it holds); a fraction `drainage` of the rest drains to the river.

    Args:
        soil: storage (B, ny, nx), in [0, capacity].
        rain: (B, ny, nx) mm/day.
        pet: potential ET, broadcastable to (B, ny, nx) (mm/day).
        capacity: bucket size (mm).
        drainage: linear drainage rate (fraction per day, in (0, 1]).

    Returns:
        soil_new, et, runoff, each (B, ny, nx).
    """
    wet = soil + rain
    excess = (wet - capacity).clamp_min(0.0)
    wet = wet - excess
    et = (pet * wet / capacity).clamp_max(1.0 * wet).clamp_min(0.0)
    wet = wet - et
    drained = drainage * wet
    return wet - drained, et, excess + drained
