"""A delay-embedded store derived from a store of vector series, for partially observed systems.

Training and evaluation both read the derived store, so the model learns, free-runs and is
judged on the same delay vectors: a state at step t is ``[x(t - (m-1) tau), ..., x(t - tau), x(t)]``
(oldest first, as `delay_embed` orders it), of dimension m·D for a D-dimensional observable.

Each trajectory (ensembles) or each contiguous period of the split (a single series) is
embedded on its own, so no delay vector mixes two trajectories or two periods (a test vector
never holds a validation sample); each loses its first (m - 1)·tau steps. A vector's time is
that of its newest sample. The store goes next to its source as ``<stem>-delay<m>x<tau>.zarr``,
written atomically, and is reused while its source is the same store (its config hash).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr

from .._errors import DataError
from ..atomic import atomic_directory
from ._chunks import checksummed
from ._delay import delay_embed, false_nearest_neighbours_dimension, mutual_information_delay
from ._schema import COMPLETE, DIM, SPLIT, TIME, TRAJ, layout_of, split_indices, validate
from ._store import check_reusable, finalize_store

AUTO = "auto"
EMBEDDABLE = ("ode", "series")  # vector series: trajectories (traj, time, dim) or one series (time, dim)
# `auto` reads at most this many training steps: mutual information and false neighbours settle
# long before, and the neighbour search costs memory in proportion to the length.
AUTO_MAX_STEPS = 20_000


def embed_store(source: str | Path, embedding: tuple[int, int] | str, *,
                check: Callable[[xr.Dataset], object] | None = None) -> Path:
    """The delay-embedded store derived from `source`, made next to it or reused.

    Args:
        source: a validated store of kind ``ode`` or ``series``.
        embedding: ``(m, tau)``, delays and delay in steps, or ``"auto"``: tau at the first
            minimum of the mutual information of the first component and m by false nearest
            neighbours of the whole observable, both on the train split (`choose_store_embedding`).
        check: called with the embedded Dataset (in memory) before anything is written; raise
            to refuse it (e.g. a test period left too short to evaluate).

    Returns:
        The derived store, ``<source stem>-delay<m>x<tau>.zarr`` beside `source`.

    Raises:
        DataError: a store kind that is not a vector series, a period or trajectory no longer
            than (m - 1)·tau steps, `auto` failing, or a derived store made from another source.
    """
    source = Path(source)
    ds = validate(source, check_values=False)  # the caller validated the values
    if ds.attrs["kind"] not in EMBEDDABLE:
        raise DataError(f"data.delay_embedding applies to vector series ({', '.join(EMBEDDABLE)} stores); "
                        f"{source} is a {ds.attrs['kind']} store: set data.delay_embedding=null")
    m, tau = choose_store_embedding(ds) if embedding == AUTO else embedding
    target = source.parent / f"{source.name.removesuffix('.zarr')}-delay{m}x{tau}.zarr"
    config_hash = _hash(ds.attrs["config_hash"], m, tau)
    if target.exists():
        check_reusable(target, config_hash, complete=True, problem=f"was not embedded from the current {source.name}",
                       fix="delete it and rerun to embed again")
        return target
    embedded = delay_embedded(ds, m, tau)
    if check is not None:
        check(embedded)
    embedded.attrs.update(
        config_hash=config_hash,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        delay_embedding={"m": m, "tau": tau, "source_store": str(source.resolve()),
                         "source_hash": ds.attrs["config_hash"]})
    try:
        _write(target, embedded)
    except OSError:  # another job (a parallel seed) renamed the same store into place first
        check_reusable(target, config_hash, complete=True, problem=f"was not embedded from the current {source.name}",
                       fix="delete it and rerun to embed again")
    return target


def delay_embedded(ds: xr.Dataset, m: int, tau: int) -> xr.Dataset:
    """The store `ds` with every state replaced by its delay vector, in memory.

    Args:
        ds: a store of kind ``ode`` (traj, time, dim) or ``series`` (time, dim).
        m, tau: delays (>= 1) and delay in steps (>= 1).

    Returns:
        A Dataset of the same kind, (traj, time - (m-1) tau, m·dim) or (time', m·dim) where each
        of the k periods lost (m-1)·tau steps; split and train-split statistics recomputed, the
        other attrs kept (λ1 and dt do not change under an embedding).
    """
    layout, lag = layout_of(ds), (m - 1) * tau
    names = [f"{name}(t-{k * tau})" if k else str(name)
             for k in range(m - 1, -1, -1) for name in ds.attrs.get("state_names") or range(ds.sizes[DIM])]
    time = ds[TIME].values
    if layout.split_dim == TRAJ:
        states = ds[layout.variable].values  # (N, T, D)
        _check_length(ds.sizes[TIME], lag, m, tau, "every trajectory has")
        vectors = np.stack([delay_embed(x, m, tau) for x in states])  # (N, T - lag, m D)
        split = ds[SPLIT].values
        train = vectors[split == 0].reshape(-1, vectors.shape[-1])
        coords = {TRAJ: ds[TRAJ].values, TIME: time[lag:], SPLIT: (TRAJ, split)}
    else:
        series, labels = ds[layout.variable].values, ds[SPLIT].values  # (T, D), (T,)
        pieces, times, splits = [], [], []
        for first, stop in _periods(labels):
            _check_length(stop - first, lag, m, tau, f"the {_SPLIT_NAMES[labels[first]]} period from step {first} has")
            pieces.append(delay_embed(series[first:stop], m, tau))
            times.append(time[first + lag:stop])
            splits.append(labels[first + lag:stop])
        vectors, split = np.concatenate(pieces), np.concatenate(splits)
        train = vectors[split == 0]
        coords = {TIME: np.concatenate(times), SPLIT: (TIME, split)}
    embedded = xr.Dataset({layout.variable: (layout.dims, vectors.astype(ds[layout.variable].dtype, copy=False),
                                             ds[layout.variable].attrs)}, coords=coords)
    embedded[TIME].attrs.update(ds[TIME].attrs)
    embedded[SPLIT].attrs.update({k: v for k, v in ds[SPLIT].attrs.items() if k.startswith("flag_")})
    kept = {k: v for k, v in ds.attrs.items() if k not in ("progress", COMPLETE)}
    embedded.attrs.update(kept, state_names=names, norm_mean=train.mean(axis=0).tolist(),
                          norm_std=train.std(axis=0).tolist())
    return embedded


def choose_store_embedding(ds: xr.Dataset, max_steps: int = AUTO_MAX_STEPS) -> tuple[int, int]:
    """(m, tau) for a store's observable, from its train split (at most `max_steps` steps of it).

    tau is the first minimum of the time-delayed mutual information of the first component
    (`mutual_information_delay`, lags up to a tenth of the series); m the first dimension with
    almost no false nearest neighbours of the whole observable at that delay
    (`false_nearest_neighbours_dimension`). For a scalar observable this is `choose_embedding`.

    Raises:
        DataError: the train split is too short, or either estimate found no answer.
    """
    layout = layout_of(ds)
    if layout.split_dim == TRAJ:  # the first train trajectory
        series = ds[layout.variable].isel({TRAJ: int(split_indices(ds, "train")[0])}).values
    else:
        first, stop = max(_periods(ds[SPLIT].values, label=0), key=lambda p: p[1] - p[0])
        series = ds[layout.variable].isel({TIME: slice(first, stop)}).values
    series = series[:max_steps].astype(np.float64)
    try:
        tau = mutual_information_delay(series[:, 0], max_lag=len(series) // 10)
        m = false_nearest_neighbours_dimension(series, tau)
    except ValueError as error:
        raise DataError(f"data.delay_embedding=auto found no embedding ({error}); give one as "
                        "data.delay_embedding=[m,tau]") from None
    return m, tau


_SPLIT_NAMES = ("train", "val", "test", "floor")


def _periods(labels: np.ndarray, label: int | None = None) -> list[tuple[int, int]]:
    """(first, stop) of each run of equal labels (only those equal to `label`, if given)."""
    edges = np.flatnonzero(np.diff(labels)) + 1
    bounds = zip(np.concatenate([[0], edges]), np.concatenate([edges, [len(labels)]]))
    return [(int(a), int(b)) for a, b in bounds if label is None or labels[a] == label]


def _check_length(steps: int, lag: int, m: int, tau: int, what: str) -> None:
    if steps <= lag:
        raise DataError(f"delay embedding [{m}, {tau}] needs more than (m-1)·tau = {lag} steps per piece but "
                        f"{what} {steps}; use a smaller m or tau, or a longer series")


def _hash(source_hash: str, m: int, tau: int) -> str:
    identity = {"source": source_hash, "delay_embedding": [m, tau]}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _write(path: Path, embedded: xr.Dataset) -> None:
    """Write `embedded` as a complete store at `path`, all or nothing."""
    attrs, bare = dict(embedded.attrs), embedded.copy()
    bare.attrs = {}
    with atomic_directory(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr: consolidated metadata is not in the v3 spec yet
        bare.to_zarr(str(tmp), mode="w-", zarr_format=3, consolidated=False,
                     encoding=checksummed(list(bare.data_vars)))
        finalize_store(tmp, attrs)
