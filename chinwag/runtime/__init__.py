"""A small actor runtime on Trio: bounded mailboxes, tell/ask, supervision, passivation."""

from chinwag.runtime.actor import Actor, ActorCrashed, ActorRef, ActorStopped
from chinwag.runtime.directory import Directory
from chinwag.runtime.mailbox import MailboxFull
from chinwag.runtime.supervisor import ChildFailure, RestartPolicy, Supervisor
from chinwag.runtime.system import ActorSystem, open_actor_system

__all__ = [
    "Actor",
    "ActorCrashed",
    "ActorRef",
    "ActorStopped",
    "ActorSystem",
    "ChildFailure",
    "Directory",
    "MailboxFull",
    "RestartPolicy",
    "Supervisor",
    "open_actor_system",
]
