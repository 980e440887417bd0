"""Identifiers of any length reach LMDB only as keys it accepts, and old keys read the same."""

from __future__ import annotations

import uuid

import lmdb
import pytest

from chinwag.records import Session
from chinwag.storage import keys
from chinwag.storage.engine import LmdbEngine
from chinwag.storage.keys import TABLES
from chinwag.storage.repository import Repository

CLIENT = "0190a5f2-7c1e-7000-8000-000000000001"
ROOM = keys.MAX_KEY_BYTES - 16  # bytes left for a tag after the client id


def test_keys_that_fit_are_laid_out_as_before() -> None:
    # The layout before hashing existed: client id + utf8(tag); channel + NUL + id.
    for tag in ("a", "é" * 100, "x" * ROOM):
        assert keys.tag_key(CLIENT, tag) == keys.id_bytes(CLIENT) + tag.encode()
    room = ROOM - len(b"telegram\x00")
    chat = "9" * room
    assert keys.channel_key(CLIENT, "telegram", chat) == (
        keys.id_bytes(CLIENT) + b"telegram\x00" + chat.encode()
    )


@pytest.mark.parametrize("size", [ROOM + 1, ROOM + 2, 4000, 100_000])
def test_a_key_one_byte_over_the_limit_is_hashed(size: int) -> None:
    key = keys.tag_key(CLIENT, "x" * size)
    assert len(key) <= keys.MAX_KEY_BYTES
    assert key[16:17] == keys.HASHED_MARK  # never a UTF-8 byte: no raw tag can collide
    assert key != keys.tag_key(CLIENT, "x" * (size + 1))
    assert key == keys.tag_key(CLIENT, "x" * size)  # stable across calls (and processes)


def test_emoji_and_surrogates_are_bounded() -> None:
    emoji = "😀" * 200  # 800 bytes of UTF-8: MDB_BAD_VALSIZE before
    assert len(keys.tag_key(CLIENT, emoji)) <= keys.MAX_KEY_BYTES
    assert len(keys.channel_key(CLIENT, "zapi", "\ud800" * 300)) <= keys.MAX_KEY_BYTES


def test_text_keys_stay_text_and_bounded() -> None:
    prefix = f"{CLIENT}\x00zapi\x00"
    short = keys.bounded_text(prefix, "3EB0C767D71D")
    assert short == prefix + "3EB0C767D71D"
    long = keys.bounded_text(prefix, "M" * 600)
    assert len(long.encode()) <= keys.MAX_KEY_BYTES
    assert long.encode().decode() == long
    odd = keys.bounded_text(prefix, "\ud800")  # not encodable as UTF-8: hashed, so it encodes
    assert odd.encode().decode() == odd


async def test_long_tags_and_chat_ids_round_trip_through_real_lmdb(tmp_path) -> None:
    engine = LmdbEngine.open(tmp_path / "data", TABLES)
    repo = Repository(engine)
    try:
        assert engine._env.max_key_size() == keys.MAX_KEY_BYTES
        tag, chat = "😀" * 200, "5" * 600
        by_tag = Session(id=str(uuid.uuid4()), client_id=CLIENT, tag=tag)
        by_chat = Session(
            id=str(uuid.uuid4()), client_id=CLIENT, channel="telegram", external_id=chat
        )
        await repo.commit([*repo.put_session(by_tag), *repo.put_session(by_chat)])
        assert repo.session_id_by_tag(CLIENT, tag) == by_tag.id
        assert repo.session_id_by_tag(CLIENT, tag[:-1]) is None
        assert repo.session_id_by_channel(CLIENT, "telegram", chat) == by_chat.id

        # And a raw LMDB put of the old layout is exactly what LMDB refuses.
        with pytest.raises(lmdb.BadValsizeError), engine._env.begin(write=True) as txn:
            txn.put(keys.id_bytes(CLIENT) + tag.encode(), b"x", db=engine._dbs["tags"])
    finally:
        engine.close()
