"""The integrations of one runtime: configuration, webhook acceptance, lanes and recovery.

`open_runtime` builds one per runtime and hands it to the HTTP app; `run` re-dispatches replies
and messages left unanswered by a previous process, then hosts one lane per active chat. Webhook
handlers call `accept`, which returns once the update is durably in the inbox; the lane answers
it later. Until `run` runs, accepted updates simply wait in the inbox.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import httpx
import msgspec
import trio

from chinwag.config import Settings
from chinwag.errors import ChinwagError, InvalidInput, NotFound
from chinwag.integrations.backoff import QUICK
from chinwag.integrations.delivery import TurnRunner
from chinwag.integrations.duration import DEFAULT, parse_duration
from chinwag.integrations.errors import IntegrationRejected, IntegrationUnavailable
from chinwag.integrations.inbox import DEDUP_RETENTION_SECONDS, Inbox, InboxItem
from chinwag.integrations.jobs import Job, LaneKey, PendingJob, ResumeJob
from chinwag.integrations.lanes import ChatLane
from chinwag.integrations.outbox import Outbox, Store
from chinwag.integrations.parse import GROUP_MODES, GroupMode, IncomingMessage
from chinwag.integrations.ratelimit import SendRateLimiter
from chinwag.integrations.senders import Sender, TelegramSender, ZapiSender
from chinwag.integrations.telegram_api import TelegramApi
from chinwag.integrations.zapi_api import ZapiApi
from chinwag.records import (
    ChatClient,
    Integrations,
    TelegramIntegration,
    ZapiIntegration,
)
from chinwag.runtime.background import BackgroundFailures
from chinwag.service import ChinwagService
from chinwag.storage.integration_store import Version

log = logging.getLogger(__name__)

IntegrationType = Literal["Telegram", "Zapi"]
PURGE_EVERY_SECONDS = 3600.0
# On shutdown, a reply being generated or sent may finish within this many seconds; one that
# takes longer is cut and redone on the next start.
SHUTDOWN_GRACE_SECONDS = 10.0


def telegram_webhook_url(settings: Settings, client_id: str) -> str:
    return f"{settings.effective_public_url()}/api/v1/webhooks/telegram/{client_id}"


def zapi_webhook_url(settings: Settings, client_id: str, secret: str) -> str:
    return f"{settings.effective_public_url()}/api/v1/webhooks/zapi/{client_id}/{secret}"


def _identity(me: Any) -> tuple[int | None, str | None]:
    """(id, username) of a getMe result."""
    me = me if isinstance(me, dict) else {}
    bot_id = me.get("id") if isinstance(me.get("id"), int) else None
    username = me.get("username") if isinstance(me.get("username"), str) else None
    return bot_id, username


@dataclass(frozen=True, slots=True)
class IntegrationStats:
    """Counters and gauges of the chat-app integrations, read by /metrics at each scrape."""

    updates_accepted: int
    updates_duplicate: int
    updates_ignored: int
    items_recovered: int
    replies_sent: int
    replies_failed: int
    active_chats: int

    def as_metrics(self) -> dict[str, int]:
        """Prometheus names: `chinwag_integration_<field>`."""
        return {f"integration_{name}": value for name, value in asdict(self).items()}


class IntegrationManager:
    def __init__(
        self,
        service: ChinwagService,
        store: Store,
        settings: Settings,
        *,
        background: BackgroundFailures,
        http: httpx.AsyncClient | None = None,
        lane_idle_timeout: float = 60.0,
    ) -> None:
        self.service = service
        self.store = store
        self.settings = settings
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))
        self._owns_http = http is None
        self.inbox = Inbox(store, now=service.now)
        # Cluster mode (chinwag/cluster): items carry the node answering them, and the pending
        # items of dead nodes are taken over (see _take_over_loop).
        self.node = service.node
        if self.node is not None:
            self.inbox.node_id = self.node.id
        self.outbox = Outbox(store, now=service.now)
        self.runner = TurnRunner(service, store, self.inbox, self.outbox, self.sender_for)
        self.lane_idle_timeout = lane_idle_timeout
        self.shutdown_grace = SHUTDOWN_GRACE_SECONDS
        # Counters for /metrics (see `stats`).
        self.counters: dict[str, int] = {
            "updates_accepted": 0,
            "updates_duplicate": 0,
            "updates_ignored": 0,
            "items_recovered": 0,
        }
        self.lanes: dict[LaneKey, ChatLane] = {}
        # Failures of recovery and purge, counted with the runtime's other background loops.
        self.background = background
        self._nursery: trio.Nursery | None = None
        # Set when an update is stored: the purge loop sleeps while there is nothing to purge.
        self._stored_something = trio.Event()
        # (client, channel) -> (credentials, sender): rebuilt when credentials change.
        self._senders: dict[tuple[str, str], tuple[tuple[str, ...], Sender]] = {}
        # One limiter per bot / instance: Telegram's 30/s is per bot.
        self._limiters: dict[tuple[str, ...], SendRateLimiter] = {}

    # ------------------------------------------------------------ lifecycle

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Recover unanswered work, then host lanes until cancelled."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self.node is None:
                    await self.recover()
                else:
                    nursery.start_soon(self._take_over_loop)
                nursery.start_soon(self._purge_loop)
                nursery.start_soon(self.learn_bot_identities)
                task_status.started()
                try:
                    await trio.sleep_forever()
                finally:
                    # Shutdown: replies being worked on may finish within the grace period.
                    for lane in list(self.lanes.values()):
                        lane.begin_grace(self.shutdown_grace)
        finally:
            self._nursery = None
            self.lanes.clear()
            if self._owns_http:
                with trio.CancelScope(shield=True):
                    await self.http.aclose()

    def _item_failed(self, loop: str, table: str) -> Callable[[bytes, Exception], None]:
        """The background policy for one loop: log the item's key, count it, go on."""

        def failed(key: bytes, error: Exception) -> None:
            self.background.failed(loop, f"{table} item {key!r}", error)

        return failed

    async def recover(self) -> int:
        """Dispatch replies and messages a previous process left unfinished; returns a count.

        A stored item that cannot be read or dispatched is logged, counted
        (`background_failures_total{loop="integration_recovery"}`) and skipped.
        """
        covered: set[str] = set()
        count = 0
        loop = "integration_recovery"
        for key, reply in await self.outbox.aunfinished(self._item_failed(loop, "outbox")):
            try:
                covered.update(reply.inbox_keys)
                self._dispatch(ResumeJob(key, reply))
                count += 1
            except Exception as error:
                self._item_failed(loop, "outbox")(key, error)
        for key, item in await self.inbox.apending(self._item_failed(loop, "inbox")):
            if key.decode(errors="replace") not in covered:
                try:
                    self._dispatch(PendingJob(key, item))
                    count += 1
                except Exception as error:
                    self._item_failed(loop, "inbox")(key, error)
        if count:
            log.info("recovered %d unanswered chat-app item(s)", count)
        self.counters["items_recovered"] += count
        return count

    async def _take_over_loop(self) -> None:
        """Cluster mode: answer the pending items whose node is dead (a crashed or restarted
        node: node ids are per process), claimed item by item so exactly one node takes each."""
        assert self.node is not None
        while True:
            try:
                await self.take_over_orphans()
            except ChinwagError as exc:
                log.warning("taking over chat-app items failed: %s", exc.message)
            await trio.sleep(self.node.lease_seconds / 2)

    async def take_over_orphans(self) -> int:
        """One pass of _take_over_loop; returns how many items were taken over."""
        assert self.node is not None
        live = {node["id"] for node in await self.node.live_nodes()} | {self.node.id}
        on_error = self._item_failed("integration_takeover", "inbox")
        pending = await self.inbox.apending_versioned(on_error)
        await self._pick_up_handed_over(pending)
        orphans = [entry for entry in pending if entry[2].node not in live]
        if not orphans:
            return 0
        replies = {
            reply.inbox_keys[0]: (key, reply)
            for key, reply in await self.outbox.aunfinished(
                self._item_failed("integration_takeover", "outbox")
            )
            if reply.inbox_keys
        }
        count = 0
        resumed: set[str] = set()
        for key, version, orphan in orphans:
            item = await self.inbox.take_over(key, version, orphan, self.node.id)
            if item is None:
                continue  # another node took it first
            count += 1
            recorded = replies.get(key.decode())
            if recorded is not None:
                resumed.update(recorded[1].inbox_keys)
                self._dispatch(ResumeJob(*recorded))
            elif key.decode() not in resumed:
                self._dispatch(PendingJob(key, item))
        if count:
            log.info("took over %d chat-app item(s) of dead nodes", count)
        self.counters["items_recovered"] += count
        return count

    async def _pick_up_handed_over(self, pending: list[tuple[bytes, Version, InboxItem]]) -> None:
        """Dispatch the items other nodes handed to this one (it holds their chat's session)."""
        assert self.node is not None
        for key, version, item in pending:
            if item.node == self.node.id and item.handed_over:
                claimed = await self.inbox.take_over(key, version, item, self.node.id)
                if claimed is not None:
                    log.info("answering a chat-app item handed over by another node")
                    self._dispatch(PendingJob(key, claimed))

    def stats(self) -> IntegrationStats:
        """Integration gauges and counters for /metrics."""
        return IntegrationStats(
            updates_accepted=self.counters["updates_accepted"],
            updates_duplicate=self.counters["updates_duplicate"],
            updates_ignored=self.counters["updates_ignored"],
            items_recovered=self.counters["items_recovered"],
            replies_sent=self.runner.replies_sent,
            replies_failed=self.runner.replies_failed,
            active_chats=len(self.lanes),
        )

    def note_ignored(self) -> None:
        self.counters["updates_ignored"] += 1

    async def learn_bot_identities(self) -> int:
        """Ask getMe for Telegram integrations saved before the bot's identity was stored.

        Without it `/cmd@thisbot` and `@thisbot` mentions cannot be recognised and no t.me link
        can be made. Best effort, once per start; returns how many integrations were updated.
        """
        updated = 0
        for client in await self.service.alist_clients():
            telegram = client.integrations.telegram
            if telegram is None or telegram.bot_username:
                continue
            try:
                me = await self.telegram_api(telegram.bot_token).call("getMe", {}, policy=QUICK)
            except (IntegrationRejected, IntegrationUnavailable) as exc:
                log.info("getMe for client %s failed: %s", client.id, exc.message)
                continue
            bot_id, username = _identity(me)
            fresh = await self.service.aget_client(client.id)
            current = fresh.integrations.telegram
            if username is None or current is None or current.bot_token != telegram.bot_token:
                continue  # changed or removed meanwhile: the new settings asked getMe already
            learned = msgspec.structs.replace(current, bot_id=bot_id, bot_username=username)
            await self._store(fresh, telegram=learned, zapi=fresh.integrations.zapi)
            updated += 1
        return updated

    async def _purge_loop(self) -> None:
        while True:
            if not await self.store.acount_items() and not await self.store.acount_replies():
                # Nothing stored: no timer at all (an idle runtime must not wake every hour).
                await self._stored_something.wait()
                self._stored_something = trio.Event()
            loop = "integration_purge"
            try:
                await self.inbox.purge(DEDUP_RETENTION_SECONDS, self._item_failed(loop, "inbox"))
                await self.outbox.purge(DEDUP_RETENTION_SECONDS, self._item_failed(loop, "outbox"))
            except Exception as error:  # storage trouble: counted, tried again next hour
                self.background.failed(loop, "a purge pass", error)
            await trio.sleep(PURGE_EVERY_SECONDS)

    # ------------------------------------------------------------ ingress

    async def accept(self, client_id: str, message: IncomingMessage) -> bool:
        """Store an update durably; False when it is a duplicate. Dispatches new ones."""
        stored = await self.inbox.accept(client_id, message)
        if stored is None:
            self.counters["updates_duplicate"] += 1
            return False
        self.counters["updates_accepted"] += 1
        self._stored_something.set()
        key, item = stored
        self._dispatch(PendingJob(key, item))
        return True

    def _dispatch(self, job: Job) -> None:
        if self._nursery is None:
            return  # stays pending in the inbox; `recover` picks it up on start
        lane = self.lanes.get(job.lane)
        if lane is None or lane.closed:
            lane = ChatLane(
                job.lane, self.runner, self._lane_ended, idle_timeout=self.lane_idle_timeout
            )
            self.lanes[job.lane] = lane
            self._nursery.start_soon(lane.run, name=f"chat-lane:{job.lane[1]}:{job.lane[2]}")
        lane.put(job)

    def _lane_ended(self, lane: ChatLane) -> None:
        if self.lanes.get(lane.key) is lane:
            del self.lanes[lane.key]

    # ------------------------------------------------------------ egress

    def _limiter(self, credentials: tuple[str, ...]) -> SendRateLimiter:
        limiter = self._limiters.get(credentials)
        if limiter is None:
            limiter = self._limiters[credentials] = SendRateLimiter()
        return limiter

    def sender_for(self, client: ChatClient, channel: str) -> Sender | None:
        """The sender of a client's integration on `channel`, or None when not configured."""
        if channel == "telegram":
            telegram = client.integrations.telegram
            if telegram is None:
                return None
            credentials: tuple[str, ...] = ("telegram", telegram.bot_token)
        elif channel == "zapi":
            zapi = client.integrations.zapi
            if zapi is None:
                return None
            credentials = ("zapi", zapi.instance_id, zapi.instance_token, zapi.client_token)
        else:
            return None
        cached = self._senders.get((client.id, channel))
        if cached is not None and cached[0] == credentials:
            return cached[1]
        sender: Sender
        if channel == "telegram":
            sender = TelegramSender(self.telegram_api(credentials[1]), self._limiter(credentials))
        else:
            api = ZapiApi(
                self.http,
                self.settings.zapi_api_url,
                credentials[1],
                credentials[2],
                credentials[3],
            )
            sender = ZapiSender(api, self._limiter(credentials))
        self._senders[(client.id, channel)] = (credentials, sender)
        return sender

    def telegram_api(self, bot_token: str) -> TelegramApi:
        return TelegramApi(self.http, self.settings.telegram_api_url, bot_token)

    # ------------------------------------------------------------ configuration

    async def configure_telegram(
        self,
        client_id: str,
        bot_token: str,
        session_duration: str = DEFAULT,
        groups: GroupMode = "mention",
    ) -> str:
        """Ask Telegram who the bot is, register the webhook, then store the integration.

        getMe and setWebhook come first: a token Telegram refuses changes nothing here. The
        bot's id and username tell mentions, replies and `/cmd@bot` meant for it apart, and
        name it in t.me links.
        """
        client = await self.service.aget_client(client_id)
        if not bot_token.strip():
            raise InvalidInput("integrations.telegramIntegration.botToken must not be empty")
        parse_duration(session_duration, "integrations.telegramIntegration.sessionDuration")
        current = client.integrations.telegram
        secret = (
            current.secret_token
            if current is not None and current.bot_token == bot_token and current.secret_token
            else secrets.token_urlsafe(32)
        )
        if groups not in GROUP_MODES:
            raise InvalidInput(
                "integrations.telegramIntegration.groups must be off, mention or all"
            )
        url = telegram_webhook_url(self.settings, client_id)
        api = self.telegram_api(bot_token)
        bot_id, username = _identity(await api.call("getMe", {}, policy=QUICK))
        await api.call(
            "setWebhook",
            {"url": url, "secret_token": secret, "allowed_updates": ["message"]},
            policy=QUICK,
        )
        integration = TelegramIntegration(
            bot_token=bot_token,
            session_duration=session_duration,
            secret_token=secret,
            bot_id=bot_id,
            bot_username=username,
            groups=groups,
        )
        await self._store(client, telegram=integration, zapi=client.integrations.zapi)
        return url

    async def configure_zapi(
        self,
        client_id: str,
        instance_id: str,
        instance_token: str,
        client_token: str,
        session_duration: str = DEFAULT,
        allow_groups: bool = False,
        groups: GroupMode | None = None,
        whatsapp_number: str | None = None,
    ) -> str:
        """Store the Z-API integration; returns the webhook URL to paste into Z-API.

        `groups`, when given, decides which group messages are answered; without it the older
        `allowGroups` does (true: all, false: none) — see parse.zapi_group_mode.
        """
        client = await self.service.aget_client(client_id)
        for field, value in (
            ("instanceId", instance_id),
            ("instanceToken", instance_token),
            ("clientToken", client_token),
        ):
            if not value.strip():
                raise InvalidInput(f"integrations.zapiIntegration.{field} must not be empty")
        parse_duration(session_duration, "integrations.zapiIntegration.sessionDuration")
        if groups is not None and groups not in GROUP_MODES:
            raise InvalidInput("integrations.zapiIntegration.groups must be off, mention or all")
        number = None
        if whatsapp_number is not None:
            number = re.sub(r"[\s()+.-]", "", whatsapp_number)
            if not re.fullmatch(r"[0-9]{8,15}", number):
                raise InvalidInput(
                    "integrations.zapiIntegration.whatsappNumber must be a phone number in "
                    "international format, 8 to 15 digits (e.g. 5511999999999)"
                )
        current = client.integrations.zapi
        secret = (
            current.webhook_secret
            if current is not None and current.webhook_secret
            else secrets.token_urlsafe(32)
        )
        integration = ZapiIntegration(
            instance_id=instance_id,
            instance_token=instance_token,
            client_token=client_token,
            session_duration=session_duration,
            webhook_secret=secret,
            allow_groups=allow_groups,
            groups=groups,
            whatsapp_number=number,
        )
        await self._store(client, telegram=client.integrations.telegram, zapi=integration)
        return zapi_webhook_url(self.settings, client_id, secret)

    async def remove(self, client_id: str, integration_type: IntegrationType) -> None:
        """Delete an integration (Telegram: deleteWebhook first, best effort)."""
        client = await self.service.aget_client(client_id)
        if integration_type == "Telegram":
            telegram = client.integrations.telegram
            if telegram is None:
                raise NotFound(f"chat client {client_id} has no Telegram integration")
            try:
                await self.telegram_api(telegram.bot_token).call(
                    "deleteWebhook", {"drop_pending_updates": False}, policy=QUICK
                )
            except IntegrationRejected as exc:  # e.g. a revoked token: nothing left to remove
                log.info("deleteWebhook refused: %s", exc.message)
            await self._store(client, telegram=None, zapi=client.integrations.zapi)
        else:
            if client.integrations.zapi is None:
                raise NotFound(f"chat client {client_id} has no Zapi integration")
            await self._store(client, telegram=client.integrations.telegram, zapi=None)
        self._senders.pop(
            (client_id, "telegram" if integration_type == "Telegram" else "zapi"), None
        )

    async def _store(
        self,
        client: ChatClient,
        *,
        telegram: TelegramIntegration | None,
        zapi: ZapiIntegration | None,
    ) -> None:
        integrations = Integrations(telegram=telegram, zapi=zapi)
        await self.service.set_integrations(client.id, integrations)
