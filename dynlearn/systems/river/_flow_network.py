"""Drainage network of a grid: pit filling, D8 flow directions, topological order, accumulation.

Directions use the LDD keypad codes of PCRaster/LISFLOOD (and GloFAS's ``ldd`` map), with row 0
to the north: 7 8 9 / 4 5 6 / 1 2 3, where 5 is an outlet (water leaves the grid there).
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import torch
from torch import Tensor

from dynlearn._errors import DataError

_CITATION = (
    "Barnes, Lehman & Mulla (2014), Priority-Flood, Computers & Geosciences 62:117 (pit filling); "
    "O'Callaghan & Mark (1984), Comput. Vis. Graph. Image Process. 28:323 (D8)"
)
OUTLET = 5
# (row offset, column offset, LDD code); the order breaks ties between equally steep neighbours.
NEIGHBOURS = ((-1, 0, 8), (-1, 1, 9), (0, 1, 6), (1, 1, 3), (1, 0, 2), (1, -1, 1), (0, -1, 4), (-1, -1, 7))
_OFFSET = {code: (di, dj) for di, dj, code in NEIGHBOURS}


def fill_depressions(elevation: Tensor, outlets: Tensor, epsilon: float) -> Tensor:
    """Raise pits and flats so that every cell has a strictly lower path to an outlet.

    Priority-Flood+ε (Barnes et al. 2014, Alg. 3): cells are flooded inwards from the outlets
    in order of elevation; a neighbour that is not higher than the cell it was reached from is
    raised to that cell's elevation + ε. Every non-outlet cell then has a neighbour lower by at
    least ε, so steepest descent never stalls or cycles.

    Args:
        elevation: (ny, nx) float64 (m).
        outlets: (ny, nx) bool, the cells water leaves the grid through (at least one).
        epsilon: the imposed gradient (m per cell step), large enough to change the elevation
            in float64 (1e-4 m is safe below 10⁸ m).

    Returns:
        The filled elevation, (ny, nx) float64, ≥ `elevation` everywhere.
    """
    z = elevation.detach().cpu().numpy().astype(np.float64).copy()
    is_outlet = outlets.cpu().numpy().astype(bool)
    if not is_outlet.any():
        raise DataError("fill_depressions got no outlet cell; mark at least one cell as an outlet")
    ny, nx = z.shape
    closed = is_outlet.copy()
    heap = [(z[i, j], k, i, j) for k, (i, j) in enumerate(zip(*np.nonzero(is_outlet)))]
    heapq.heapify(heap)
    counter = len(heap)  # FIFO among equal elevations keeps the result deterministic
    while heap:
        zc, _, i, j = heapq.heappop(heap)
        for di, dj, _code in NEIGHBOURS:
            a, b = i + di, j + dj
            if 0 <= a < ny and 0 <= b < nx and not closed[a, b]:
                closed[a, b] = True
                if z[a, b] <= zc:
                    z[a, b] = zc + epsilon
                heapq.heappush(heap, (z[a, b], counter, a, b))
                counter += 1
    return torch.from_numpy(z)


def d8_directions(elevation: Tensor, outlets: Tensor) -> Tensor:
    """Steepest-descent (D8) directions as LDD codes; outlet cells get 5.

    The slope to a neighbour is the drop over the distance between centres (1 for edge
    neighbours, √2 for diagonal ones, in cell units); ties go to the first in `NEIGHBOURS`.

    Args:
        elevation: (ny, nx) float64, filled (`fill_depressions`) so every non-outlet cell has a
            lower neighbour.
        outlets: (ny, nx) bool.

    Returns:
        LDD codes, (ny, nx) int64.
    """
    z = elevation.detach().cpu().numpy().astype(np.float64)
    ny, nx = z.shape
    padded = np.pad(z, 1, constant_values=np.inf)
    slopes = np.stack([(z - padded[1 + di:1 + di + ny, 1 + dj:1 + dj + nx]) / math.hypot(di, dj)
                       for di, dj, _ in NEIGHBOURS])  # (8, ny, nx)
    codes = np.array([code for _, _, code in NEIGHBOURS])[np.argmax(slopes, axis=0)]
    is_outlet = outlets.cpu().numpy().astype(bool)
    stuck = (slopes.max(axis=0) <= 0) & ~is_outlet
    if stuck.any():
        i, j = np.argwhere(stuck)[0]
        raise DataError(f"cell ({i}, {j}) has no lower neighbour; fill depressions before d8_directions")
    codes[is_outlet] = OUTLET
    return torch.from_numpy(codes.astype(np.int64))


def downstream_index(ldd: Tensor) -> Tensor:
    """Flat index (row-major) of the cell each cell drains into, −1 for outlets, (ny·nx,) int64."""
    codes = ldd.cpu().numpy()
    ny, nx = codes.shape
    rows, cols = np.indices((ny, nx))
    di = np.zeros_like(codes)
    dj = np.zeros_like(codes)
    for code, (oi, oj) in _OFFSET.items():
        di[codes == code], dj[codes == code] = oi, oj
    target_r, target_c = rows + di, cols + dj
    outside = (target_r < 0) | (target_r >= ny) | (target_c < 0) | (target_c >= nx)
    if (outside & (codes != OUTLET)).any():
        raise DataError("an LDD direction points outside the grid; mark such cells as outlets (5)")
    down = np.where(codes == OUTLET, -1, target_r * nx + target_c)
    return torch.from_numpy(down.reshape(-1).astype(np.int64))


def flow_length(ldd: Tensor) -> Tensor:
    """Length of each cell's reach in cell units: √2 for diagonal directions, else 1, (ny, nx)."""
    diagonal = torch.isin(ldd, torch.tensor([1, 3, 7, 9]))
    return torch.where(diagonal, math.sqrt(2.0), 1.0).to(torch.float64)


def topological_levels(downstream: Tensor) -> Tensor:
    """Level of each cell: 0 for sources, else 1 + the largest level upstream, (N,) int64.

    Every cell drains into a cell of higher level, so processing levels in increasing order
    visits all of a cell's upstream area before the cell (Kahn's algorithm, by rounds).

    Raises:
        DataError: if the network has a cycle.
    """
    down = downstream.cpu().numpy()
    n = down.size
    has_down = down >= 0
    indegree = np.bincount(down[has_down], minlength=n)
    level = np.full(n, -1, dtype=np.int64)
    current = np.flatnonzero(indegree == 0)
    depth = 0
    while current.size:
        level[current] = depth
        targets = down[current]
        targets = targets[targets >= 0]
        np.subtract.at(indegree, targets, 1)
        current = np.unique(targets[indegree[targets] == 0])
        depth += 1
    if (level < 0).any():
        raise DataError(f"the drainage network has a cycle through cell {np.flatnonzero(level < 0)[0]}; "
                        "derive directions from filled elevations")
    return torch.from_numpy(level)


def flow_accumulation(downstream: Tensor, weights: Tensor | None = None) -> Tensor:
    """Total weight of each cell's upstream area, the cell included, (N,) float64.

    Args:
        downstream: (N,) int64 from `downstream_index`.
        weights: (N,) per-cell weights (e.g. cell areas in km²); ones (a cell count) if None.
    """
    down = downstream.cpu().numpy()
    level = topological_levels(downstream).numpy()
    acc = np.ones(down.size) if weights is None else weights.cpu().numpy().astype(np.float64).copy()
    for depth in range(int(level.max()) + 1):
        cells = np.flatnonzero((level == depth) & (down >= 0))
        np.add.at(acc, down[cells], acc[cells])
    return torch.from_numpy(acc)
