"""QA leftovers on the talk page, in real Chromium against a real server: error banners quote
the request id (the X-Request-Id of the failed response, or the SSE error's `requestId`), and
feedback thumbs appear only on real answers, never on an error marker."""

from __future__ import annotations

from typing import Any

from test_talk_page import open_chat, send, wait_idle, wait_js


def _fake_chat(live_server: Any) -> tuple[Any, dict[str, Any]]:
    fake = live_server.fake_openai()
    return fake, live_server.fake_chat(fake)


def _banner(page: Any) -> str:
    page.wait_for_selector("#cw-banner:not([hidden])", timeout=30_000)
    return page.locator("#cw-banner-text").inner_text()


def test_error_banners_quote_the_request_id(live_server: Any, page: Any, screenshot: Any) -> None:
    from gateways.fake_openai import error_reply, text_reply

    fake, opened = _fake_chat(live_server)
    open_chat(page, opened["talkUrl"])

    # A prompt the model fails before its first token: a 502 envelope.
    fake.script.append(error_reply(401, "Incorrect API key provided: sk-test"))
    with page.expect_response(lambda r: r.url.endswith("/prompt")) as answer:
        send(page, "first question")
    assert answer.value.status == 502
    rid = answer.value.headers["x-request-id"]
    text = _banner(page)
    assert "couldn't answer" in text and f"(request id {rid})" in text, text
    # The stored failure in the conversation names it too, also after a reload.
    marker = "document.querySelector('.cw-msg-error')?.textContent || ''"
    wait_js(page, f"() => ({marker}).includes('{rid}')")
    screenshot(page, "qa-request-id-banner")
    page.reload()
    page.wait_for_selector("#cw-app[data-state=ready]")
    wait_js(page, f"() => ({marker}).includes('(request id {rid})')")

    # A reply that fails after it started: the SSE error event's id, the POST's own.
    fake.script.append(text_reply("one two three four five", cut_after=3, delay=0.05))
    wait_idle(page)
    with page.expect_response(lambda r: r.url.endswith("/prompt")) as answer:
        send(page, "second question")
    rid2 = answer.value.headers["x-request-id"]
    wait_js(page, f"() => document.querySelector('#cw-banner-text').textContent.includes('{rid2}')")
    assert f"(request id {rid2})" in _banner(page)

    # A history load that fails (the server's real 400 for a bad page) quotes its id too.
    def bad_page(route: Any) -> None:
        real = route.fetch(url=route.request.url.split("?")[0] + "?limit=0")
        route.fulfill(response=real)

    page.route("**/messages?*", bad_page)
    with page.expect_response(lambda r: "/messages?" in r.url) as answer:
        page.reload()
    page.wait_for_selector("#cw-app[data-state=ready]")
    assert answer.value.status == 400
    rid3 = answer.value.headers["x-request-id"]
    text = _banner(page)
    assert "couldn't be loaded" in text and f"(request id {rid3})" in text, text


def test_thumbs_only_on_real_answers(live_server: Any, page: Any) -> None:
    from gateways.fake_openai import error_reply

    fake, opened = _fake_chat(live_server)
    open_chat(page, opened["talkUrl"])
    fake.script.append(error_reply(401, "Incorrect API key provided: sk-test"))
    send(page, "this one fails")
    _banner(page)
    wait_idle(page)
    send(page, "this one is answered")  # the fake's default: an echo
    wait_js(page, "() => document.querySelectorAll('.cw-msg--assistant[data-id]').length === 2")
    wait_idle(page)

    def assistant_messages() -> list[dict[str, Any]]:
        return page.evaluate(
            """() => [...document.querySelectorAll('.cw-msg--assistant[data-id]')].map((m) => ({
                error: !!m.querySelector('.cw-msg-error'),
                thumbs: m.querySelectorAll('.cw-feedback-button').length,
            }))"""
        )

    shown = assistant_messages()
    assert shown == [{"error": True, "thumbs": 0}, {"error": False, "thumbs": 2}], shown
    page.reload()
    page.wait_for_selector("#cw-app[data-state=ready]")
    assert assistant_messages() == shown
    stored = live_server.public_messages(opened["accessKey"])
    assert [m["status"] for m in stored if m["role"] == "assistant"] == ["error", "complete"]
