"""The facade: the one door HTTP, the CLI and the integrations use (contract: `chinwag.service`).

`Chinwag` is assembled from one class per concern, each in its own module over the shared
`FacadeBase` (actor context, storage, directories, asks). `chinwag.wiring.open_runtime` builds it.
"""

from chinwag.facade.base import FacadeBase
from chinwag.facade.channels import ChannelsFacade
from chinwag.facade.clients import ClientsFacade
from chinwag.facade.feedback import FeedbackFacade
from chinwag.facade.gateways import GatewaysFacade
from chinwag.facade.keys import ApiKeysFacade
from chinwag.facade.replies import RepliesFacade
from chinwag.facade.sessions import SessionsFacade
from chinwag.facade.setup import SetupFacade
from chinwag.facade.turns import TurnsFacade


class Chinwag(
    ApiKeysFacade,
    GatewaysFacade,
    ClientsFacade,
    SessionsFacade,
    TurnsFacade,
    ChannelsFacade,
    FeedbackFacade,
    RepliesFacade,
    SetupFacade,
    FacadeBase,
):
    """The facade over one runtime; implements `chinwag.service.ChinwagService`."""


__all__ = ["Chinwag"]
