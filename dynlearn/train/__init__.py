"""Training: the loop, typed settings and safe checkpoints."""

from ._checkpoint import load_checkpoint as load_checkpoint
from ._config import TrainerConfig as TrainerConfig
from ._device import fork_rng as fork_rng
from ._field_judge import FieldJudge as FieldJudge
from ._device import model_device as model_device
from ._loop import TrainResult as TrainResult
from ._loop import fit as fit
from ._scoring import VALIDATION_TRANSIENT as VALIDATION_TRANSIENT
from ._scoring import Judge as Judge
from ._scoring import free_run as free_run
from ._scoring import rosenstein as rosenstein
