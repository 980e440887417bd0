"""The public sentence of a turn whose node lost its session (cluster.ownership.Fenced): true
(the prompt may be stored, so never "nothing was stored") and in the client's language."""

from __future__ import annotations

from chinwag.cluster.ownership import Fenced
from chinwag.http.public_errors import PublicErrors


def test_fenced_sentence_is_localized_and_asks_for_the_same_key() -> None:
    english = PublicErrors("en", "r1").message(Fenced())
    portuguese = PublicErrors("pt-BR", "r2").message(Fenced())
    assert "another server" in english and "same Idempotency-Key" in english
    assert english.endswith("(request id r1)")
    assert "outro servidor" in portuguese and portuguese.endswith("(request id r2)")
    assert "nothing was stored" not in Fenced().message
