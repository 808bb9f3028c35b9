"""Long-term invariants and skill scores (definitions: DESIGN.md §5, reference/data_metrics.md §5)."""

from ._ensemble import crps_ensemble as crps_ensemble
from ._horizon import horizon_mse as horizon_mse
from ._lyapunov import LyapunovResult as LyapunovResult
from ._lyapunov import lyapunov_spectrum as lyapunov_spectrum
from ._lyapunov import system_lyapunov_spectrum as system_lyapunov_spectrum
from ._protocol import COLLAPSED as COLLAPSED
from ._protocol import TAIL_STEPS as TAIL_STEPS
from ._protocol import DIVERGED as DIVERGED
from ._protocol import PROTOCOL_VERSION as PROTOCOL_VERSION
from ._protocol import TruthStats as TruthStats
from ._protocol import free_run_status as free_run_status
from ._protocol import pooled_d_stsp as pooled_d_stsp
from ._protocol import stsp_bins as stsp_bins
from ._rosenstein import lyap_rosenstein as lyap_rosenstein
from ._skill import finite_median as finite_median
from ._skill import kge as kge
from ._skill import median_over_cells as median_over_cells
from ._skill import nse as nse
from ._spectrum import d_h as d_h
from ._stsp import d_stsp as d_stsp
from ._vpt import VPT as VPT
from ._vpt import vpt as vpt
from ._vpt import vpt_smape as vpt_smape
