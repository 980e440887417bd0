"""Every fixed bound and format of chinwag's input, written once.

The input types (`chinwag.rules.inputs`) put these into msgspec constraints, so the same number
validates a request, the embedding API and the CLI, and appears in the OpenAPI document.
Settings-dependent bounds (the prompt's character limit) have their default here.
"""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB

# Sessions (API.md "Sessions"): 10 minutes to 90 days, 1 hour when absent.
MIN_EXPIRES = 600
MAX_EXPIRES = 7_776_000
DEFAULT_EXPIRES = 3600

# Revision 2 field bounds.
DEFAULT_MAX_PROMPT_CHARS = 32_000  # CHINWAG_MAX_PROMPT_CHARS
MAX_IMAGE_BYTES = 5 * MIB  # one image part, decoded
MAX_INSTRUCTIONS_CHARS = 4_000  # the public prompt's `instructions`
MAX_EXTRA_CONTEXT_BYTES = 64 * KIB  # UTF-8
MAX_METADATA_BYTES = 16 * KIB  # JSON-encoded
MAX_TAG_BYTES = 256  # UTF-8

# Names, ids and free text of the management API.
MAX_NAME_CHARS = 200
MAX_ID_CHARS = 200
MAX_URL_CHARS = 2048
MAX_SECRET_CHARS = 4096
MAX_LABEL_CHARS = 1_000
MAX_GATEWAY_INSTRUCTIONS_CHARS = 64 * KIB
MAX_CUSTOM_CODE_CHARS = 64 * KIB  # customStyles, customScripts
MAX_LIMIT_VALUE = 1_000_000_000  # every limitingParameters value and token count
# A gateway's timeoutSeconds (connect, and between streamed chunks): 1 second to 10 minutes.
MIN_MODEL_TIMEOUT = 1
MAX_MODEL_TIMEOUT = 600
MAX_LIST_ITEMS = 50
MAX_SUGGESTION_BUTTONS = 20
MAX_IMAGE_ORIGINS = 20
MAX_IDEMPOTENCY_KEY_CHARS = 200
MAX_LAST_EVENT_ID_CHARS = 100  # `Last-Event-ID` of GET …/stream (ours are `<12 hex>.<n>`)
MAX_SESSION_PAGE = 200
DEFAULT_SESSION_PAGE = 50
# Feedback on assistant messages (API.md Revision 2 "Feedback").
MAX_COMMENT_CHARS = 1_000
MAX_FEEDBACK_PAGE = 200
DEFAULT_FEEDBACK_PAGE = 50
# Message pages (API.md Revision 2 "Paging"); a message seq fits a signed 64-bit integer.
DEFAULT_MESSAGE_PAGE = 100
MAX_MESSAGE_PAGE = 500
MAX_SEQ = (1 << 63) - 1
# An image part's data URL: base64 of MAX_IMAGE_BYTES plus a short `data:<type>;base64,` head.
MAX_IMAGE_URL_CHARS = 4 * -(-MAX_IMAGE_BYTES // 3) + 256

# Access keys and the talk page (API.md "Authentication").
ACCESS_KEY_PREFIX = "wky_"
TALK_PATH = "/chat/"

IDEMPOTENCY_HEADER = "Idempotency-Key"


def talk_url(public_url: str, access_key: str) -> str:
    """`<public base URL>/chat/<accessKey>`: the one format of a session's talk page link."""
    return f"{public_url.rstrip('/')}{TALK_PATH}{access_key}"
