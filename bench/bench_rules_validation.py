"""Cost of checking a prompt twice (HTTP decoder, then the facade's rules), same run.

The HTTP path decodes the body into `PromptBody`; the facade then converts the prompt through the
same type again (so the embedding API refuses what HTTP refuses). This measures what the second
check adds, for a short text prompt and for a 5 MiB image prompt, in interleaved rounds.
Run: .venv/bin/python bench/bench_rules_validation.py
"""

from __future__ import annotations

import base64
import statistics
import time

import msgspec

from chinwag.http.schemas import PromptBody, decode_body
from chinwag.rules import bounds
from chinwag.rules.prompt import prompt_input

ROUNDS = 9
PNG = b"\x89PNG\r\n\x1a\n"


def _bodies() -> dict[str, bytes]:
    image = base64.b64encode(PNG + b"\0" * (bounds.MAX_IMAGE_BYTES - len(PNG))).decode()
    part = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}}
    return {
        "text (200 chars)": msgspec.json.encode({"prompt": "hello " * 33}),
        "image (5 MiB)": msgspec.json.encode(
            {"prompt": {"content": [{"type": "text", "text": "see"}, part]}}
        ),
    }


def _http_only(raw: bytes, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        decode_body(raw, PromptBody, "application/json").prompt_builtins()
    return (time.perf_counter() - started) / n


def _facade_only(raw: bytes, n: int) -> float:
    """The second check alone: what the facade adds after the HTTP decoder."""
    body = decode_body(raw, PromptBody, "application/json")
    prompt = body.prompt_builtins()
    started = time.perf_counter()
    for _ in range(n):
        prompt_input(
            prompt,
            commit=body.commit,
            instructions=body.instructions,
            max_chars=bounds.DEFAULT_MAX_PROMPT_CHARS,
        )
    return (time.perf_counter() - started) / n


def main() -> None:
    for name, raw in _bodies().items():
        n = 2000 if len(raw) < 10_000 else 50
        baseline, ours = [], []
        for _ in range(ROUNDS):  # interleaved: both see the same machine load
            baseline.append(_http_only(raw, n))
            ours.append(_facade_only(raw, n))
        base, new = statistics.median(baseline), statistics.median(ours)
        print(
            f"{name}: HTTP decode {base * 1e6:,.1f} us; the facade's second check adds "
            f"{new * 1e6:,.1f} us ({new / base:.1%} of the decode), median of {ROUNDS} rounds"
        )


if __name__ == "__main__":
    main()
