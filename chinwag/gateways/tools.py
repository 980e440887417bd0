"""Research tools the model may call: `fetch_url` and `web_search`.

The tool definitions are sent as OpenAI function-calling `tools`; the model's calls are run
here and their results (text, always - an error is a result the model can read and work around)
are sent back as `tool` messages. `web_search` asks a SearXNG instance (its JSON API); the
search URL is the gateway owner's setting, so it is trusted and may be on a private network,
unlike the URLs the model asks `fetch_url` for.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from chinwag.gateways.fetch import FetchError, UrlGuard, display_url, fetch_page
from chinwag.records import Research

log = logging.getLogger(__name__)

# Text a tool may hand back to the model (about 4k tokens), so one page cannot fill the window.
MAX_RESULT_CHARS = 16_000
SEARCH_RESULTS = 5

FETCH_URL_TOOL = {
    "type": "function",
    "function": {
        "name": "fetch_url",
        "description": "Fetch a public web page (http or https) and return its text.",
        "parameters": {
            "type": "object",
            "properties": {"url": {"type": "string", "description": "The absolute URL."}},
            "required": ["url"],
        },
    },
}

WEB_SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "web_search",
        "description": "Search the web; returns the top results with title, URL and snippet.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What to search for."}},
            "required": ["query"],
        },
    },
}


def research_tools(research: Research) -> list[dict[str, Any]]:
    """The tool definitions a gateway's research settings enable (maybe none)."""
    tools = []
    if research.fetch_url:
        tools.append(FETCH_URL_TOOL)
    if research.web_search_url:
        tools.append(WEB_SEARCH_TOOL)
    return tools


@dataclass(frozen=True)
class ToolRunner:
    """Runs the research tools of one gateway."""

    http: httpx.AsyncClient
    research: Research
    guard: UrlGuard
    timeout: float = 15.0

    async def run(self, name: str, arguments: str) -> str:
        """The result text of one call; failures are described, never raised."""
        try:
            args = json.loads(arguments or "{}")
        except ValueError:
            return f"error: the arguments of {name} are not valid JSON: {arguments[:200]!r}"
        if not isinstance(args, dict):
            return f"error: the arguments of {name} must be a JSON object"
        try:
            if name == "fetch_url" and self.research.fetch_url:
                return _clip(await self.fetch_url(str(args.get("url", ""))))
            if name == "web_search" and self.research.web_search_url:
                return _clip(await self.web_search(str(args.get("query", ""))))
        except FetchError as error:
            return f"error: {error}"
        return f"error: there is no tool named {name!r}"

    async def fetch_url(self, url: str) -> str:
        if not url:
            return "error: fetch_url needs a url"
        page = await fetch_page(self.http, url, guard=self.guard, timeout=self.timeout)
        note = "\n[truncated]" if page.truncated else ""
        if not 200 <= page.status < 300:
            return f"error: {display_url(page.url)} answered HTTP {page.status}\n{page.text[:2000]}"
        return f"URL: {display_url(page.url)}\n\n{page.text}{note}"

    async def web_search(self, query: str) -> str:
        if not query:
            return "error: web_search needs a query"
        assert self.research.web_search_url
        try:
            response = await self.http.get(
                self.research.web_search_url,
                params={"q": query, "format": "json"},
                timeout=self.timeout,
            )
            response.raise_for_status()
            results = response.json().get("results") or []
        except (httpx.HTTPError, ValueError, AttributeError) as error:
            # The search URL is the operator's (maybe private, maybe with a key): log it only.
            log.warning("web search failed: %r", error)
            raise FetchError(f"web search failed ({type(error).__name__})") from None
        lines = []
        for rank, result in enumerate(results[:SEARCH_RESULTS], start=1):
            title = str(result.get("title") or "").strip()
            url = str(result.get("url") or "").strip()
            snippet = str(result.get("content") or "").strip()
            lines.append(f"{rank}. {title}\n{url}\n{snippet}".rstrip())
        return "\n\n".join(lines) if lines else f"No results for {query!r}."


def _clip(text: str) -> str:
    if len(text) <= MAX_RESULT_CHARS:
        return text
    return text[:MAX_RESULT_CHARS] + "\n[truncated]"
