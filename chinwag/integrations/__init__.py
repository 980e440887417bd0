"""Telegram and WhatsApp (Z-API) chats as chinwag sessions, with exactly-once ingress.

Flow of one message:

1. Webhook (`chinwag.http.webhooks`): the secret is checked in constant time, the payload
   parsed (`parse`), and the update stored in the durable inbox (`inbox`), deduplicated by
   Telegram `update_id` (per bot) or Z-API `messageId`. Only then is it answered 200.
2. The manager (`manager`) hands it to the chat's lane (`lanes.ChatLane`): one queue and
   task per chat, so a chat is answered in order while chats run in parallel. Texts arriving
   within `messageDebounceInterval` become one turn; commands (`commands`) run on their own.
3. The turn runs against the chat's session (`open_channel_session`: one session per chat id
   or phone, living `sessionDuration`, replaced when expired). Limits, model failures and
   expiry become short notices in the client's language.
4. The reply is split (`split`), recorded in the outbox (`outbox`), and sent part by part
   through a paced sender (`senders`, `ratelimit`, `telegram_api`, `zapi_api`), each part
   ticked off as it goes; the last tick marks the inbox items done in the same commit.

Guarantees and their limits:

- An acknowledged update is never lost: unanswered inbox items and unfinished outbox replies
  are dispatched again when the runtime starts (`run_integrations`).
- A reply is sent once: after a crash, a recorded reply resumes at its first unsent part.
  Each turn carries an idempotency key (`answer.turn_key`), so a turn the crashed process had
  started is answered from the stored conversation (or its stored user message is answered)
  instead of being stored and asked twice. One
  part can still be sent twice if the process dies after the platform accepted it and before
  its tick was committed (the chat APIs have no idempotency key).
- On graceful shutdown the reply in progress may finish within a 10 s grace period.
"""
