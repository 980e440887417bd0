"""`redact`: each credential shape is masked, the sentence around it stays readable."""

from __future__ import annotations

import logging

import pytest

from chinwag.errors import ModelFailed
from chinwag.redaction import RedactingFilter, redact

CASES = [
    (
        "Incorrect API key provided: sk-proj-Zx81QWmVd2KsP0aLbTr5yUe7. See the docs.",
        "sk-proj-Zx81QWmVd2KsP0aLbTr5yUe7",
        "Incorrect API key provided: sk-***. See the docs.",
    ),
    (
        "cannot connect to the model server at http://admin:s3cr3t@10.0.0.5:8000/v1/chat",
        "s3cr3t",
        "cannot connect to the model server at http://***@10.0.0.5:8000/v1/chat",
    ),
    ("Authorization: Bearer abcdef123456.xyz failed", "abcdef123456", None),
    ("auth header was 'Authorization: Basic YWRtaW46cGFzcw=='", "YWRtaW46cGFzcw", None),
    ("GET https://x.example/v1?api_key=K123456&model=m", "K123456", None),
    ("GET https://x.example/v1?model=m&token=tok_9f8e7d", "tok_9f8e7d", None),
    (
        "POST https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage",
        "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "POST https://api.telegram.org/bot***/sendMessage",
    ),
    ("token 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw is bad", "AAHdqTcvCH1vGWJx", None),
    (
        "https://api.z-api.io/instances/3C0FFEE/token/F00DFACE1234/send-text",
        "F00DFACE1234",
        "https://api.z-api.io/instances/3C0FFEE/token/***/send-text",
    ),
    ('{"apiKey": "abc123secret", "model": "m"}', "abc123secret", None),
    ("password=hunter2 rest", "hunter2", None),
    # A model server's HTML error page (assignments that are not query parameters).
    (
        "HTTP 502: <html><body>Traceback: File /srv/app.py secret=hunter2</body></html>",
        "hunter2",
        "HTTP 502: <html><body>Traceback: File /srv/app.py secret=***",
    ),
    ("<pre>token=tok-91ab2c passphrase: opensesame</pre>", "tok-91ab2c", None),
    ("<pre>token=tok-91ab2c passphrase: opensesame</pre>", "opensesame", None),
    ("config api_key=K3yK3y pwd=p4ss", "K3yK3y", "config api_key=*** pwd=***"),
    (
        "POST /api/v1/public/chat-clients/wky_agrczpmfw5qbkdnxcrjbb5qxw7wd7p4irulysf2kyd/prompt",
        "qbkdnxcrjbb5qxw7wd7p4irulysf2kyd",
        "POST /api/v1/public/chat-clients/wky_agrczpmf***/prompt",
    ),
]


@pytest.mark.parametrize(("text", "secret", "expected"), CASES)
def test_each_credential_shape_is_masked(text: str, secret: str, expected: str | None) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert "***" in cleaned
    if expected is not None:
        assert cleaned == expected
    assert redact(cleaned) == cleaned  # idempotent


def test_plain_text_is_left_alone() -> None:
    text = "the model server answered HTTP 503: overloaded, try again in 20 seconds"
    assert redact(text) == text
    for words in ("maxCompletionTokens: 500", "tokens: 12", "the secret is out"):
        assert redact(words) == words


def test_upstream_errors_are_redacted_when_made() -> None:
    error = ModelFailed("the model server answered HTTP 401: bad key sk-abcdefghijklmnop123")
    assert error.message == "the model server answered HTTP 401: bad key sk-***"


def test_log_filter_redacts_message_args_and_traceback() -> None:
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "failed at %s", ("http://u:pw1234@h/",), None
    )
    try:
        raise RuntimeError("Bearer tok_abcdef123456")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "failed at http://***@h/"
    assert "tok_abcdef123456" not in (record.exc_text or "")
    assert "Bearer ***" in (record.exc_text or "")
