"""torchrack-timm: timm models as torchrack backbones (``timm``); timm is imported only when one
is built."""

from __future__ import annotations

from torchrack_timm.backbone import TimmError, import_timm

__all__ = ["TimmError", "import_timm"]
