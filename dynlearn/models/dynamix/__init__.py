"""The DynaMix family: a mixture of AL-RNN experts gated by a context (`DynaMix`), for zero-shot
reconstruction of systems never trained on (Hemmer & Durstewitz 2025)."""

from dynlearn.models.dynamix._model import DynaMix as DynaMix
from dynlearn.models.dynamix._model import DynaMixConfig as DynaMixConfig
from dynlearn.models.dynamix._zero_shot import ContextStandardized as ContextStandardized
from dynlearn.models.dynamix._zero_shot import zero_shot_forecast as zero_shot_forecast
