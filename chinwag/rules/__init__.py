"""Every input rule of chinwag, once: bounds, input types, and the sentences that refuse input.

- `bounds`: the numbers and formats (expires, field sizes, `wky_`, the talkUrl format).
- `fields`, `inputs`, `prompt`: msgspec types carrying those bounds. The HTTP API decodes bodies
  into them, the OpenAPI document is generated from them, and the embedding API (`Chinwag`)
  and the CLI convert their arguments into them (`checked`), so all three refuse the same input
  with the same message (`messages`).
"""

from chinwag.rules import bounds
from chinwag.rules.bounds import talk_url
from chinwag.rules.messages import convert, decode_json, describe

__all__ = ["bounds", "convert", "decode_json", "describe", "talk_url"]
