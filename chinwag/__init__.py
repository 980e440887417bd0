"""chinwag: a Trio-native runtime that hosts AI chat sessions."""

from chinwag.app_runtime import Chinwag, open_runtime
from chinwag.config import Settings

__all__ = ["Chinwag", "Settings", "open_runtime"]
