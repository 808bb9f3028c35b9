"""Training: the loop, typed settings and safe checkpoints."""

from ._checkpoint import load_checkpoint as load_checkpoint
from ._config import TrainerConfig as TrainerConfig
from ._loop import TrainResult as TrainResult
from ._loop import fit as fit
