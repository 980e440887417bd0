"""The talk page works under its tight CSP (default-src 'none', connect-src 'self', style-src
'self' + nonce): no violation is reported while it loads, streams, renders Markdown and
applies the operator's colour and custom CSS (real Chromium)."""

from __future__ import annotations

from typing import Any

import pytest
from test_talk_page import bubbles, open_chat, send, wait_idle

pytestmark = pytest.mark.browser


def test_talk_page_runs_without_csp_violations(live_server: Any, page: Any) -> None:
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    chat = live_server.chat(
        client_parameters={
            "primaryColor": "#0f766e",
            "customStyles": "#cw-input { outline: 3px solid rgb(1, 2, 3); }",
            "customScripts": "window.cwCustomRan = true;",
            "debug": True,
        }
    )
    open_chat(page, chat["talkUrl"])
    page.evaluate(
        "() => document.addEventListener('securitypolicyviolation',"
        " (e) => (window.cwViolations = window.cwViolations || []).push(e.violatedDirective))"
    )
    prompt = "**bold** and `code` | a | b |"
    send(page, prompt)
    wait_idle(page)
    assert bubbles(page, "assistant")[-1].startswith("You said:")
    outline = page.evaluate(
        "() => getComputedStyle(document.querySelector('#cw-input')).outlineColor"
    )
    assert outline == "rgb(1, 2, 3)"  # the custom <style> (nonce) applied
    primary = page.evaluate(
        "() => getComputedStyle(document.documentElement).getPropertyValue('--cw-primary').trim()"
    )
    assert primary == "#0f766e"
    assert page.evaluate("() => window.cwCustomRan === true")
    assert page.evaluate("() => window.cwViolations || []") == []
    assert violations == []
