"""Synthetic river basin: drainage network on hand-made grids, conservation, routing closed forms,
seasonality, the terrain spectrum and bit-for-bit resumption."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from dynlearn._errors import ConfigError
from dynlearn.systems.river import (
    LinearReservoirRouting,
    MuskingumRouting,
    RainfallModel,
    RiverBasin,
    RiverConfig,
    UpstreamSolver,
    bucket_step,
    d8_directions,
    downstream_index,
    fill_depressions,
    flow_accumulation,
    fractal_surface,
    simulate_river_dataset,
    topological_levels,
)

SMALL = RiverConfig(ny=24, nx=20, river_threshold_km2=150.0)


def _mass_terms(basin, state0, outputs, state1):
    area_m3_per_mm = basin.cell_area_km2 * 1e3
    rain = (outputs["precipitation"] * area_m3_per_mm).sum(dim=(1, 2, 3))
    et = (outputs["evapotranspiration"] * area_m3_per_mm).sum(dim=(1, 2, 3))
    outflow = outputs["outlet_volume"].sum(dim=1)
    return rain, et, outflow, basin.storage_m3(state1) - basin.storage_m3(state0)


# ---- drainage network on hand-made grids -------------------------------------------------------

def test_d8_and_accumulation_on_a_hand_made_valley():
    # Worked by hand: slopes are drops over 1 (edge) or √2 (diagonal); the bottom row drains out.
    z = torch.tensor([[8, 7, 6, 7], [7, 5, 4, 6], [6, 4, 2, 5], [5, 3, 1, 4]], dtype=torch.float64)
    outlets = torch.zeros(4, 4, dtype=torch.bool)
    outlets[3] = True
    filled = fill_depressions(z, outlets, 1e-3)
    assert torch.equal(filled, z)  # no pits: nothing to fill
    ldd = d8_directions(filled, outlets)
    expected = torch.tensor([[3, 3, 2, 1], [3, 3, 2, 1], [3, 3, 2, 4], [5, 5, 5, 5]])
    assert torch.equal(ldd, expected)
    accumulation = flow_accumulation(downstream_index(ldd)).reshape(4, 4)
    expected_acc = torch.tensor([[1, 1, 1, 1], [1, 2, 4, 1], [1, 2, 9, 1], [1, 2, 12, 1]], dtype=torch.float64)
    assert torch.equal(accumulation, expected_acc)
    weights = torch.arange(16, dtype=torch.float64)  # area weights: the outlets collect the total
    assert float(flow_accumulation(downstream_index(ldd), weights)[12:].sum()) == float(weights.sum())


def test_pit_is_filled_with_an_epsilon_gradient_and_drains():
    eps = 1e-3
    z = torch.full((5, 5), 9.0, dtype=torch.float64)
    z[1:4, 1:4] = 5.0
    z[2, 2] = 1.0  # a pit, 4 m deep
    z[4, 2] = 3.0  # the only outlet
    outlets = torch.zeros(5, 5, dtype=torch.bool)
    outlets[4, 2] = True
    filled = fill_depressions(z, outlets, eps)
    expected = z.clone()
    expected[3, 1:4] = 5.0  # spill level, reached from the outlet without raising
    expected[2, 1:4] = 5.0 + eps  # flats behind it get one ε per step
    expected[1, 1:4] = 5.0 + eps + eps
    assert torch.equal(filled, expected)
    ldd = d8_directions(filled, outlets)
    assert int(ldd[2, 2]) == 2  # the former pit drains south (edge slope ε beats diagonal ε/√2)
    down = downstream_index(ldd)
    assert float(flow_accumulation(down)[4 * 5 + 2]) == 25.0  # everything reaches the one outlet


def test_cycle_is_detected():
    with pytest.raises(Exception, match="cycle"):
        topological_levels(torch.tensor([1, 2, 0, -1]))


def test_synthetic_network_is_acyclic_and_drains_downhill(generator):
    basin = RiverBasin.synthesize(RiverConfig(ny=40, nx=32), generator)
    down = basin.downstream.numpy()
    z = basin.elevation.flatten().numpy()
    routed = down >= 0
    assert (z[down[routed]] < z[routed]).all()  # strictly downhill, hence no cycle
    assert (basin.elevation >= basin.raw_elevation).all()
    cell = np.arange(down.size)  # follow every cell downstream: all reach an outlet
    for _ in range(down.size):
        cell = np.where(cell >= 0, down[np.maximum(cell, 0)], -1)
    assert (cell == -1).all()
    assert (basin.ldd[-1] == 5).all() and int((basin.downstream < 0).sum()) == 32  # south edge drains
    outlets_area = float(basin.upstream_area_km2[-1].sum())
    assert outlets_area == pytest.approx(float(basin.cell_area_km2.sum()), rel=1e-12)


def test_fractal_spectrum_slope_matches_hurst(generator):
    # Power of a 2-D fBm surface falls as |k|^-(2H+2): fit the slope of the radially binned spectrum.
    n, hurst = 128, 0.6
    power = sum(torch.fft.rfft2(fractal_surface(n, n, hurst, generator)).abs() ** 2 for _ in range(8))
    ky = torch.fft.fftfreq(n)[:, None]
    kx = torch.fft.rfftfreq(n)[None, :]
    k = torch.sqrt(ky**2 + kx**2)
    edges = np.geomspace(2 / n, 0.45, 15)
    centres, means = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        ring = (k >= lo) & (k < hi)
        centres.append(float(k[ring].mean()))
        means.append(float(power[ring].mean()))
    slope = np.polyfit(np.log(centres), np.log(means), 1)[0]
    assert slope == pytest.approx(-(2 * hurst + 2), abs=0.1)


# ---- routing closed forms ----------------------------------------------------------------------

def test_linear_reservoir_impulse_response_is_the_exact_daily_integral():
    k, volume = 2.5, 1000.0
    routing = LinearReservoirRouting(torch.tensor([-1]), torch.tensor([k]))
    state = {"channel_storage": torch.full((1, 1, 1), volume, dtype=torch.float64)}
    outflows = []
    for _ in range(40):
        state, outflow, leaving = routing.route(state, torch.zeros(1, 1, dtype=torch.float64))
        assert float(leaving[0]) == float(outflow[0, 0])
        outflows.append(float(outflow[0, 0]))
    days = np.arange(40)
    exact = volume * (np.exp(-days / k) - np.exp(-(days + 1) / k))  # ∫_n^{n+1} V e^{-t/K}/K dt
    np.testing.assert_allclose(outflows, exact, rtol=1e-12)


def test_reservoir_chain_reaches_steady_state_with_full_throughput():
    # Three cells in a line, constant runoff into each: outflow → total runoff, stores → Σ K·inflow.
    down = torch.tensor([1, 2, -1])
    k = torch.tensor([0.7, 1.3, 2.0], dtype=torch.float64)
    routing = LinearReservoirRouting(down, k)
    runoff = torch.tensor([[5.0, 2.0, 1.0]], dtype=torch.float64)
    state = routing.initial_state(1)
    for _ in range(200):
        state, outflow, leaving = routing.route(state, runoff)
    assert float(leaving[0]) == pytest.approx(8.0, rel=1e-12)
    np.testing.assert_allclose(outflow[0].numpy(), [5.0, 7.0, 8.0], rtol=1e-12)
    # At steady state S' = S: S = bI/(1 − a) with inflow I per day.
    a, b = np.exp(-1 / k.numpy()), k.numpy() * (1 - np.exp(-1 / k.numpy()))
    np.testing.assert_allclose(state["channel_storage"][0, 0].numpy(), b * np.array([5, 7, 8]) / (1 - a), rtol=1e-12)


def test_muskingum_matches_its_recursion_and_conserves_volume():
    k, x = 1.5, 0.25
    routing = MuskingumRouting(torch.tensor([-1]), torch.tensor([k], dtype=torch.float64), x)
    d = 2 * k * (1 - x) + 1
    c0, c1, c2 = (1 - 2 * k * x) / d, (1 + 2 * k * x) / d, (2 * k * (1 - x) - 1) / d
    assert c0 + c1 + c2 == pytest.approx(1.0, abs=1e-15) and min(c0, c1, c2) >= 0
    inflow = np.zeros(80)
    inflow[1:4] = [30.0, 50.0, 10.0]
    expected, previous_in, previous_out = [], 0.0, 0.0
    for value in inflow:
        previous_out = c0 * value + c1 * previous_in + c2 * previous_out
        previous_in = value
        expected.append(previous_out)
    state, got = routing.initial_state(1), []
    for value in inflow:
        state, outflow, _ = routing.route(state, torch.tensor([[value]], dtype=torch.float64))
        got.append(float(outflow[0, 0]))
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)
    assert sum(got) == pytest.approx(inflow.sum(), rel=1e-12)  # all of the flood wave gets out
    assert float(routing.storage(state)[0]) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(("k", "x"), [(0.3, 0.2), (3.0, 0.3)])
def test_muskingum_outside_its_stability_range_is_a_config_error(k, x):
    with pytest.raises(ConfigError, match="2Kx"):
        MuskingumRouting(torch.tensor([-1]), torch.tensor([k], dtype=torch.float64), x)
    with pytest.raises(ConfigError, match="2Kx"):  # caught as early as the config
        RiverConfig(routing="muskingum", routing_k_days=k, muskingum_x=x)


def test_upstream_solver_matches_its_level_by_level_twin(generator):
    basin = RiverBasin.synthesize(RiverConfig(ny=32, nx=32), generator)
    beta = torch.rand(32 * 32, generator=generator, dtype=torch.float64)
    solver = UpstreamSolver(basin.downstream, beta)
    rhs = torch.rand(3, 32 * 32, generator=generator, dtype=torch.float64)
    y = solver.solve(rhs)
    np.testing.assert_allclose(y.numpy(), solver.solve_ref(rhs).numpy(), rtol=1e-13, atol=0)
    np.testing.assert_allclose(y.numpy(), (rhs + beta * solver.upstream_sum(y)).numpy(), rtol=1e-13, atol=0)
    ones = UpstreamSolver(basin.downstream, torch.ones(32 * 32, dtype=torch.float64))
    counts = ones.solve(torch.ones(1, 32 * 32, dtype=torch.float64))[0]  # β = 1: flow accumulation
    assert torch.equal(counts, flow_accumulation(basin.downstream))


# ---- water balance and discharge ---------------------------------------------------------------

def test_bucket_drains_geometrically_without_forcing():
    soil = torch.full((1, 1, 1), 80.0, dtype=torch.float64)
    zero = torch.zeros_like(soil)
    total = 0.0
    for _ in range(10):
        soil, et, runoff = bucket_step(soil, zero, zero, capacity=100.0, drainage=0.1)
        total += float(runoff)
    assert float(soil) == pytest.approx(80.0 * 0.9**10, rel=1e-14)
    assert total == pytest.approx(80.0 * (1 - 0.9**10), rel=1e-13)


@pytest.mark.parametrize("scheme", [dict(routing="reservoir"), dict(routing="reservoir", reservoirs_per_cell=3),
                                    dict(routing="muskingum", muskingum_x=0.3)])
def test_mass_balance_closes_over_three_years(scheme, generator):
    config = RiverConfig(ny=24, nx=20, **scheme)
    basin = RiverBasin.synthesize(config, generator)
    state0 = basin.initial_state(2, day_of_year=100.0)
    outputs, state1 = basin.simulate(state0, 3 * 365, generator)
    rain, et, outflow, storage_change = _mass_terms(basin, state0, outputs, state1)
    residual = (rain - et - outflow - storage_change) / rain
    assert residual.abs().max() <= 1e-9
    assert (outflow > 0.3 * rain).all() and (et > 0.1 * rain).all()  # every term matters
    assert (outputs["discharge"] >= 0).all()


def test_discharge_grows_downstream(generator):
    basin = RiverBasin.synthesize(SMALL, generator)
    _, state = basin.simulate(basin.initial_state(2), 365, generator)  # spin-up year
    outputs, _ = basin.simulate(state, 2 * 365, generator)
    q = outputs["discharge"].mean(dim=(0, 1)).flatten().numpy()  # long-term mean, (N,)
    area = basin.upstream_area_km2.flatten().numpy()
    # Off the rivers, cells of one or two cells' area differ mostly by their sampled rainfall.
    assert spearmanr(q, area).statistic > 0.85
    river = basin.mask.flatten().numpy()
    assert spearmanr(q[river], area[river]).statistic > 0.95
    down = basin.downstream.numpy()
    routed = down >= 0  # channels lose nothing, so the long-term mean grows at every step downstream
    assert (q[down[routed]] > q[routed]).all()


def test_rain_seasonality_and_mean_match_the_configuration(generator):
    ratio, peak, mean = 3.0, 15.0, 2.5
    model = RainfallModel(16, 16, mean_mm=mean, wet_dry_ratio=ratio, peak_day=peak, wet_fraction=0.35,
                          length_cells=3.0, ar1=0.6)
    members, years = 24, 2
    latent = model.smoothed_noise(members, generator)  # start stationary: z ~ N(0, 1)
    day = torch.zeros(members, dtype=torch.float64)
    daily, wet_cells = [], []
    for _ in range(years * 365):
        latent, rain = model.step(latent, day, generator)
        daily.append(rain.mean(dim=(1, 2)))
        wet_cells.append((rain > 0).double().mean(dim=(1, 2)))
        day = day + 1
    wet_fraction = torch.stack(wet_cells, dim=1).mean(dim=1).numpy()  # per member: P(z > q) = 0.35
    assert abs(wet_fraction.mean() - 0.35) < 4 * wet_fraction.std(ddof=1) / math.sqrt(members)
    rain = torch.stack(daily, dim=1).reshape(members * years, 365).numpy()  # (member-years, day of year)
    window = 30
    offset = ((np.arange(365) - peak + 182) % 365.25) - 182  # days from the wettest day
    wet = np.abs(offset) <= window
    dry = np.abs(np.abs(offset) - 365.25 / 2) <= window
    amplitude = (ratio - 1) / (ratio + 1)
    theta = 2 * np.pi * (np.arange(365) - peak) / 365.25
    expected = (1 + amplitude * np.cos(theta[wet])).mean() / (1 + amplitude * np.cos(theta[dry])).mean()
    per_block = rain[:, wet].mean(axis=1) / rain[:, dry].mean(axis=1)  # independent member-years
    estimate = rain[:, wet].mean() / rain[:, dry].mean()
    stderr = per_block.std(ddof=1) / math.sqrt(len(per_block))
    assert stderr < 0.1 * expected  # the test can tell a wrong factor apart
    assert abs(estimate - expected) < 4 * stderr
    annual = rain.mean(axis=1)
    assert abs(annual.mean() - mean * (1 + amplitude * np.cos(theta).mean())) < 4 * annual.std(ddof=1) / math.sqrt(
        len(annual))


# ---- resumption and API ------------------------------------------------------------------------

@pytest.mark.parametrize("routing", ["reservoir", "muskingum"])
def test_resumed_simulation_equals_one_call_bit_for_bit(routing):
    basin = RiverBasin.synthesize(RiverConfig(ny=16, nx=12, routing=routing), torch.Generator().manual_seed(7))
    state = basin.initial_state(3, day_of_year=300.0)
    whole, end = basin.simulate(state, 40, torch.Generator().manual_seed(99))
    generator = torch.Generator().manual_seed(99)
    first, middle = basin.simulate(state, 13, generator)
    second, end2 = basin.simulate(middle, 27, generator)
    for name, value in whole.items():
        assert torch.equal(value, torch.cat([first[name], second[name]], dim=1)), name
    assert end.keys() == end2.keys() and all(torch.equal(end[key], end2[key]) for key in end)
    # ... and the input state was left alone
    assert torch.equal(state["soil_storage"], basin.initial_state(3)["soil_storage"])


def test_dataset_layout_mask_and_reproducibility():
    config = RiverConfig(ny=20, nx=16, resolution_deg=0.05, lat_north=45.0, lon_west=5.0)
    ds = simulate_river_dataset(config, 30, torch.Generator().manual_seed(3), "2003-06-01")
    again = simulate_river_dataset(config, 30, torch.Generator().manual_seed(3), "2003-06-01")
    assert ds.identical(again)
    assert ds["discharge"].dims == ("time", "lat", "lon")
    mask = ds["mask"].values
    assert mask.dtype == bool and 0 < mask.sum() < mask.size
    assert (np.isnan(ds["discharge"].values) == ~mask[None]).all()  # NaN exactly off the river
    assert all("units" in ds[name].attrs for name in ds.variables if name != "time")
    np.testing.assert_allclose(np.diff(ds["lat"].values), -0.05)
    assert ds["lat"].values[0] == pytest.approx(45.0 - 0.025) and ds["lon"].values[0] == pytest.approx(5.025)
    assert (np.diff(ds["time"].values) == np.timedelta64(1, "D")).all()
    area_km2 = (6371.0088 * math.radians(0.05)) ** 2 * math.cos(math.radians(ds["lat"].values[0]))
    assert float(ds["upstream_area"].min()) == pytest.approx(area_km2, rel=1e-3)  # a source cell in the (smallest) northern row


@pytest.mark.parametrize(("field", "value"), [
    ("hurst", 1.2), ("rain_ar1", 1.0), ("routing", "kinematic"), ("outlet_edge", "up"), ("ny", 1),
    ("soil_capacity_mm", 0.0),
])
def test_invalid_config_is_a_one_line_config_error(field, value):
    with pytest.raises(ConfigError) as error:
        RiverConfig(**{field: value})
    assert field.split("_")[0] in str(error.value) and "\n" not in str(error.value)


def test_basin_description_is_json_serialisable(generator):
    import json

    basin = RiverBasin.synthesize(SMALL, generator)
    description = json.loads(json.dumps(basin.to_dict()))
    assert description["params"]["ny"] == 24 and description["routing"]["scheme"] == "reservoir"
    assert any("Barnes" in cite for cite in description["citation"])


@pytest.mark.slow
def test_default_basin_balances_over_ten_years():
    # The default 64 × 64 grid, two members, ten years: the long-run checks at full size.
    generator = torch.Generator().manual_seed(2024)
    basin = RiverBasin.synthesize(RiverConfig(), generator)
    state0 = basin.initial_state(2)
    outputs, state1 = basin.simulate(state0, 3653, generator)
    rain, et, outflow, storage_change = _mass_terms(basin, state0, outputs, state1)
    assert ((rain - et - outflow - storage_change) / rain).abs().max() <= 1e-9
    q = outputs["discharge"][:, 365:].mean(dim=(0, 1)).flatten().numpy()
    down = basin.downstream.numpy()
    routed = down >= 0
    assert (q[down[routed]] > q[routed]).all()
    river = basin.mask.flatten().numpy()
    assert spearmanr(q[river], basin.upstream_area_km2.flatten().numpy()[river]).statistic > 0.95
