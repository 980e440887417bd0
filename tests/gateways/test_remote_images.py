"""Finding image parts given by URL, and the model request never carrying one."""

from __future__ import annotations

from chinwag.gateways.base import Turn
from chinwag.gateways.openai import REMOTE_IMAGE_PLACEHOLDER, build_messages
from chinwag.gateways.remote_images import remote_image_parts


def _image(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


def test_parts_are_named_like_the_prompt_checks_name_them() -> None:
    text = {"type": "text", "text": "hi"}
    assert [w for w, _ in remote_image_parts([text, _image("https://x/a.png")])] == [
        "prompt[1].image_url"
    ]
    message = {
        "role": "user",
        "content": [_image("HTTP://x/b.png"), _image("data:image/png;base64,AA")],
    }
    assert [w for w, _ in remote_image_parts(message)] == ["prompt.content[0].image_url"]
    assert [w for w, _ in remote_image_parts([message, message])] == [
        "prompt[0].content[0].image_url",
        "prompt[1].content[0].image_url",
    ]
    assert list(remote_image_parts("http://x/a.png")) == []  # a plain string is text


def test_stored_remote_image_urls_are_not_sent_to_the_model() -> None:
    old = {
        "role": "user",
        "content": [{"type": "text", "text": "see"}, _image("http://169.254.169.254/")],
    }
    inline = {"role": "user", "content": [_image("data:image/png;base64,AA")]}
    messages = build_messages(None, Turn(messages=[old, inline]))
    assert messages[0]["content"] == [{"type": "text", "text": "see"}, REMOTE_IMAGE_PLACEHOLDER]
    assert messages[1] is inline
