"""The actor tree of one runtime: who supervises whom, and where each session actor is found.

One supervisor restarts crashed actors (one-for-one, within the restart intensity); the session
directory holds one `SessionActor` (cluster mode: `FencedSessionActor`) per session id (the
single owner and writer of its session), the registry directory one `RegistryActor` per tag or
chat; the sweeper expires and purges.
`chinwag.wiring.open_runtime` builds it and hands it to the facade.

In cluster mode the session directory first asks the node's owner cache: a session known to be
active on another live node is refused with NotOwner at once (the HTTP layer relays it there),
with no actor started and stopped and no store read. The cache only steers; the owner's claim
and fence still decide (chinwag/cluster/peers.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chinwag.actors.context import ActorContext
from chinwag.actors.registry import RegistryActor, RegistryKey
from chinwag.actors.session import SessionActor
from chinwag.actors.sweeper import Sweeper
from chinwag.cluster.fenced import FencedSessionActor
from chinwag.cluster.node import Node
from chinwag.cluster.ownership import NotOwner
from chinwag.runtime import ActorSystem, Directory, RestartPolicy, Supervisor


class RoutedSessions(Directory[str]):
    """The session directory of a cluster node: asks for a session the owner cache places on
    another node are refused (NotOwner) before any activation."""

    def __init__(self, node: Node, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._node = node

    async def ask(self, key: str, message: Any) -> Any:
        if not self.is_active(key):
            owner = self._node.peers.owners.get(key)
            if owner is not None:
                raise NotOwner(key, owner)
        return await super().ask(key, message)


@dataclass(frozen=True, slots=True)
class ActorTree:
    supervisor: Supervisor
    sessions: Directory[str]
    registry: Directory[RegistryKey]
    sweeper: Sweeper


def build_actor_tree(
    core: ActorContext, system: ActorSystem, node: Node | None = None
) -> ActorTree:
    """`node`: cluster mode (a shared store), where session actors claim and fence their
    session (`chinwag.cluster.fenced.FencedSessionActor`)."""
    settings = core.settings

    def make_session(session_id: str) -> SessionActor:
        if node is None:
            return SessionActor(core, session_id)
        return FencedSessionActor(core, node, session_id)

    supervisor = Supervisor(
        RestartPolicy(max(0, settings.restart_limit), settings.restart_window_seconds)
    )
    session_options: dict[str, Any] = {
        "kind": "session",
        "idle_timeout": settings.passivate_after_seconds,
        "mailbox_size": 256,
        "supervisor": supervisor,
    }
    sessions: Directory[str] = (
        Directory(system, make_session, **session_options)
        if node is None
        else RoutedSessions(node, system, make_session, **session_options)
    )
    registry: Directory[RegistryKey] = Directory(
        system,
        lambda key: RegistryActor(core, sessions, key),
        kind="registry",
        idle_timeout=60.0,
        mailbox_size=1024,
        supervisor=supervisor,
    )
    sweeper = Sweeper(core, sessions)
    core.expiry_changed = sweeper.expiry_changed
    return ActorTree(supervisor, sessions, registry, sweeper)
