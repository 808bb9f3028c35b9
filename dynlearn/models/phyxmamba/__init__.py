"""PhyxMamba: delay-embedded patch tokens, a residual Mamba-2 stack, multi-token prediction and
attractor-geometry (MMD) fine-tuning on free rollouts (Liu et al. 2025, arXiv 2505.23863)."""

from dynlearn.models.phyxmamba._embedding import causal_delay_embed as causal_delay_embed
from dynlearn.models.phyxmamba._embedding import choose_delays as choose_delays
from dynlearn.models.phyxmamba._embedding import patchify as patchify
from dynlearn.models.phyxmamba._embedding import unpatchify as unpatchify
from dynlearn.models.phyxmamba._mmd import mmd as mmd
from dynlearn.models.phyxmamba._model import PhyxMamba as PhyxMamba
from dynlearn.models.phyxmamba._model import PhyxMambaConfig as PhyxMambaConfig
