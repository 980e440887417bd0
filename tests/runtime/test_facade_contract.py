"""The facade implements the whole contract HTTP, the CLI and the integrations call.

No type checker runs in CI, so this test compares the Protocol with the facade: every method
exists, with the same parameters (names, kinds and defaults) and the same async-ness.
"""

from __future__ import annotations

import inspect

from chinwag.facade import Chinwag
from chinwag.service import ChinwagService


def _members() -> list[str]:
    return sorted(
        name
        for name, value in vars(ChinwagService).items()
        if not name.startswith("_") and inspect.isfunction(value)
    )


def test_protocol_lists_the_methods_callers_use() -> None:
    names = _members()
    for used in ("prompt_stream", "set_integrations", "stats", "now", "open_channel_session"):
        assert used in names


def test_facade_implements_every_method_with_the_same_signature() -> None:
    for name in _members():
        wanted = getattr(ChinwagService, name)
        actual = getattr(Chinwag, name, None)
        assert actual is not None, f"Chinwag lacks {name}"
        assert inspect.iscoroutinefunction(actual) == inspect.iscoroutinefunction(wanted), name
        assert inspect.isasyncgenfunction(actual) or not inspect.isasyncgenfunction(wanted), name
        want_params = [
            (p.name, p.kind, p.default) for p in inspect.signature(wanted).parameters.values()
        ]
        have_params = [
            (p.name, p.kind, p.default) for p in inspect.signature(actual).parameters.values()
        ]
        assert have_params == want_params, name
