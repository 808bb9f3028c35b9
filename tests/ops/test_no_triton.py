"""Without Triton, `import dynlearn.ops` works and every public op runs on the CPU path."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.helpers import REPO

# One CPU call per public name of dynlearn.ops (ssd's names use its documented signature). The
# script fails if `__all__` exports a name without a call here, so new ops must be added.
SCRIPT = textwrap.dedent(
    '''
    import sys
    sys.modules["triton"] = None  # any `import triton` now raises ImportError

    import torch
    import dynlearn.ops as ops
    from dynlearn._errors import ConfigError

    g = torch.Generator().manual_seed(0)
    def rn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    a, b, h0 = torch.rand(2, 9, 3, generator=g, dtype=torch.float64), rn(2, 9, 3), rn(2, 3)
    u, dl, A, B, C, D = rn(2, 4, 9), rn(2, 4, 9).abs(), -rn(4, 3).abs(), rn(2, 3, 9), rn(2, 3, 9), rn(4)
    x, dt, Ah, Bs, Cs = rn(2, 9, 2, 5), rn(2, 9, 2).abs(), -rn(2).abs(), rn(2, 9, 1, 3), rn(2, 9, 1, 3)
    CALLS = {
        "linear_scan": lambda **kw: ops.linear_scan(a, b, h0, **kw),
        "linear_scan_ref": lambda **kw: ops.linear_scan_ref(a, b, h0, **kw),
        "linear_scan_step": lambda **kw: ops.linear_scan_step(a[:, 0], b[:, 0], h0),
        "selective_scan": lambda **kw: ops.selective_scan(u, dl, A, B, C, D, **kw),
        "selective_scan_ref": lambda **kw: ops.selective_scan_ref(u, dl, A, B, C, D, **kw),
        "selective_scan_step": lambda **kw: ops.selective_scan_step(
            torch.zeros(2, 4, 3, dtype=torch.float64), u[..., 0], dl[..., 0], A, B[..., 0], C[..., 0], D),
        "ssd": lambda **kw: ops.ssd(x, dt, Ah, Bs, Cs, 4, **kw),
        "ssd_ref": lambda **kw: ops.ssd_ref(x, dt, Ah, Bs, Cs, 4, **kw),
        "ssd_step": lambda **kw: ops.ssd_step(
            torch.zeros(2, 2, 5, 3, dtype=torch.float64), x[:, 0], dt[:, 0], Ah, Bs[:, 0], Cs[:, 0]),
    }
    missing = sorted(set(ops.__all__) - set(CALLS))
    assert not missing, f"no CPU call in test_no_triton.py for {missing}"
    for name in ops.__all__:
        out = CALLS[name]()
        assert all(torch.isfinite(t).all() for t in (out if isinstance(out, tuple) else (out,)))
        if not name.endswith(("_ref", "_step")):  # the dispatching ops: CPU path, then Triton
            ref = CALLS[name + "_ref"]()
            assert torch.allclose(out, ref, rtol=1e-10, atol=1e-10), name
            try:
                CALLS[name](backend="triton")
            except ConfigError as error:
                message = str(error)
                assert "\\n" not in message and "cannot run here" in message, message
            else:
                raise AssertionError(f"{name}(backend='triton') ran without Triton")
    kernels = [m for m in sys.modules if m.startswith("dynlearn.ops.triton._")]
    assert not kernels, kernels
    print("ok", len(ops.__all__))
    '''
)


def test_ops_run_on_cpu_without_triton():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
