"""SpecTM model: encoder, masking strategies, heads, the multi-task loss, devices and artefacts."""

from spectm.model.encoder import PRESETS, SpecTM, SpecTMConfig, count_parameters, preset_config
from spectm.model.losses import selected_mse, spectm_loss
from spectm.model.masking import DEFAULT_WINDOWS_NM, MASK_STRATEGIES, make_mask, window_mask

__all__ = [
    "DEFAULT_WINDOWS_NM",
    "MASK_STRATEGIES",
    "PRESETS",
    "SpecTM",
    "SpecTMConfig",
    "count_parameters",
    "make_mask",
    "preset_config",
    "selected_mse",
    "spectm_loss",
    "window_mask",
]
