/*
 * chinwag talk page: "Continue on Telegram / WhatsApp", and following a linked chat.
 *
 *   POST ../api/v1/public/chat-clients/{key}/links {channel}  -> {url, code, expiresAt}
 *   GET  .../messages?limit=1                                 the newest message (to follow it)
 *
 * A click asks for a fresh single-use code and opens the t.me / wa.me link in a new tab (the
 * tab is opened during the click, so no popup blocker stops it). From then on, and from the
 * start when a chat already writes into this session, the page checks every few seconds while
 * it is visible whether the conversation changed, and asks talk.js to show it
 * ("chinwag:resync"). Kept apart from talk.js so the two change independently.
 */
(() => {
  "use strict";

  const cfg = JSON.parse(document.getElementById("cw-config").textContent);
  const apiBase = new URL(
    `../api/v1/public/chat-clients/${encodeURIComponent(cfg.accessKey)}/`,
    window.location.href,
  );
  const POLL_MS = 3000;
  let following = Boolean(cfg.chatLinked);
  let lastSeen = null;
  let timer = null;

  async function fetchLink(channel) {
    const response = await fetch(new URL("links", apiBase), {
      method: "POST",
      credentials: "omit",
      cache: "no-store",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify({ channel }),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok || !body || !body.data) throw new Error(`HTTP ${response.status}`);
    return body.data;
  }

  for (const anchor of document.querySelectorAll(".cw-continue[data-channel]")) {
    anchor.addEventListener("click", async (event) => {
      event.preventDefault();
      // Open the tab now, while the click still counts as the user's; point it at the link
      // once the server has made the code.
      const tab = window.open("about:blank", "_blank");
      if (tab) tab.opener = null;
      try {
        const link = await fetchLink(anchor.dataset.channel);
        anchor.href = link.url;
        if (tab) tab.location.href = link.url;
        else window.location.href = link.url;
        follow();
      } catch {
        if (tab) tab.close();
      }
    });
  }

  function signature(messages) {
    const last = messages[messages.length - 1];
    return last ? `${last.id}:${last.status}:${JSON.stringify(last.content).length}` : "none";
  }

  async function check() {
    timer = null;
    if (document.hidden) return; // resumes on visibilitychange
    try {
      // Only the newest message is needed to notice a change (a server without paging sends all).
      const response = await fetch(new URL("messages?limit=1", apiBase), {
        credentials: "omit",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (response.status === 401) return; // expired or deleted: talk.js shows why
      if (response.ok) {
        const body = await response.json();
        const messages = Array.isArray(body.data) ? body.data : [];
        const seen = signature(messages);
        // The first check also re-syncs: the chat may have written before we started looking.
        if (seen !== lastSeen) window.dispatchEvent(new CustomEvent("chinwag:resync"));
        lastSeen = seen;
      }
    } catch {
      // offline: talk.js reports it; keep following
    }
    schedule();
  }

  function schedule() {
    if (following && timer === null && !document.hidden) timer = setTimeout(check, POLL_MS);
  }

  function follow() {
    following = true;
    schedule();
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && following && timer === null) check();
  });

  if (following) check();
})();
