"""chinwag: a Trio-native runtime that hosts AI chat sessions."""

from chinwag.config import Settings
from chinwag.facade import Chinwag
from chinwag.wiring import open_runtime

__all__ = ["Chinwag", "Settings", "open_runtime"]
