"""Echo turns on huge prompts: ours (pieces after 64 words, text collected in a list) against
the previous way (one event and one checkpoint per word, `outcome.content += text`), same run.

Both run the echo stream and the session actor's collection step (`SessionActor._collect` for
ours, the attribute `+=` it replaced for the baseline) in one Trio loop; rounds interleave the
two. Printed: CPU seconds per prompt size (lowest of the rounds) and ns per word, so growth
with size is visible: linear code keeps ns/word flat.

    .venv/bin/python bench/bench_echo_long_prompt.py [--sizes 25000,50000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import trio  # noqa: E402

from chinwag.actors.session import SessionActor, TurnOutcome  # noqa: E402
from chinwag.gateways.base import ContentDelta, Turn  # noqa: E402
from chinwag.gateways.echo import EchoAssistant  # noqa: E402


class _OldOutcome:
    content = ""


async def _baseline(prompt: str) -> int:
    """The replaced code: an event and a checkpoint per word, `+=` on an attribute."""
    outcome = _OldOutcome()
    reply = f"You said: {prompt}"
    for index, word in enumerate(reply.split(" ")):
        await trio.lowlevel.checkpoint()
        event = ContentDelta(word if index == 0 else " " + word)
        outcome.content += event.text
    return len(outcome.content)


async def _ours(prompt: str) -> int:
    outcome = TurnOutcome()
    turn = Turn(messages=[{"role": "user", "content": prompt}])
    async for event in EchoAssistant().stream(turn):
        SessionActor._collect(event, outcome)
    return len(outcome.content)


def _cpu(fn, prompt: str) -> float:
    start = time.process_time()
    length = trio.run(fn, prompt)
    assert length == len("You said: ") + len(prompt)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="25000,50000,100000,200000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    best: dict[tuple[str, int], float] = {}
    for _ in range(args.rounds):
        for words in sizes:
            prompt = " ".join(f"w{i}" for i in range(words))
            for name, fn in (("baseline", _baseline), ("ours", _ours)):
                seconds = _cpu(fn, prompt)
                key = (name, words)
                best[key] = min(best.get(key, seconds), seconds)
    print(
        f"{'words':>9} {'baseline s':>11} {'ns/word':>8} {'ours s':>8} {'ns/word':>8}"
        f" {'speedup':>8}"
    )
    for words in sizes:
        base, ours = best[("baseline", words)], best[("ours", words)]
        print(
            f"{words:>9} {base:>11.3f} {base / words * 1e9:>8.0f} {ours:>8.3f} "
            f"{ours / words * 1e9:>8.0f} {base / ours:>7.1f}x"
        )


if __name__ == "__main__":
    main()
