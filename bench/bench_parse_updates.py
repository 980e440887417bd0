"""Telegram webhook parsing: the group/forum-aware parser vs the one before it, same run.

The new parser does more per update (service-message check, `/cmd@bot` target, entity
rendering with UTF-16 offsets, mention and reply checks, largest photo size). This measures
what that costs per update on python-telegram-bot-built payloads (private text, a forum
message mentioning the bot, a photo with a text_link caption, a service message), against the
previous parser loaded from git (commit BASELINE), in interleaved rounds; medians reported.

    .venv/bin/python bench/bench_parse_updates.py [--rounds 7] [--updates 20000]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

BASELINE = "bc4c27d"  # main before the groups/forums/photos work


def load_baseline() -> Any:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{BASELINE}:chinwag/integrations/parse.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "parse_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("parse_baseline", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


def payloads() -> dict[str, dict[str, Any]]:
    from integrations import tg
    from telegram import MessageEntity

    text = "@ChinwagTestBot 📎 see the docs please"
    link_at = len("@ChinwagTestBot 📎 see the ".encode("utf-16-le")) // 2
    entities = (
        *tg.mention(text),
        MessageEntity(type="text_link", offset=link_at, length=4, url="https://example.com/d"),
    )
    photo = (
        tg.PhotoSize("s", "u1", 90, 60, file_size=1_000),
        tg.PhotoSize("l", "u2", 1280, 853, file_size=90_000),
    )
    return {
        "private text": tg.update(1, tg.message(1, tg.private(), "Hello there, a question")),
        "forum mention": tg.update(
            2,
            tg.message(
                2, tg.forum(), text, entities=entities, message_thread_id=5, is_topic_message=True
            ),
        ),
        "photo + caption": tg.update(
            3, tg.message(3, tg.private(), None, photo=photo, caption="what is this?")
        ),
        "service message": tg.update(4, tg.message(4, tg.group(), None, new_chat_title="New")),
    }


def timed(parse: Any, body: dict[str, Any], count: int, **kwargs: Any) -> float:
    start = time.perf_counter()
    for _ in range(count):
        parse(body, **kwargs)
    return (time.perf_counter() - start) / count * 1e6  # µs per update


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--updates", type=int, default=20_000)
    args = parser.parse_args()

    from chinwag.integrations.parse import TelegramBot, parse_telegram_update

    baseline = load_baseline()
    bot = TelegramBot(123456, "ChinwagTestBot")
    print(f"{'payload':<18} {'baseline µs':>12} {'ours µs':>9} {'ratio':>7}")
    for name, body in payloads().items():
        ours_runs, base_runs = [], []
        for _ in range(args.rounds):  # interleaved: both see the same machine load
            base_runs.append(timed(baseline.parse_telegram_update, body, args.updates))
            ours_runs.append(
                timed(parse_telegram_update, body, args.updates, bot=bot, groups="all")
            )
        base, ours = statistics.median(base_runs), statistics.median(ours_runs)
        print(f"{name:<18} {base:>12.2f} {ours:>9.2f} {ours / base:>6.2f}x")


if __name__ == "__main__":
    main()
