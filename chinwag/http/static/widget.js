/*
 * chinwag widget: a chat launcher for any website.
 *
 *   <script src="https://chat.example.com/widget.js"
 *           data-talk-url="https://chat.example.com/chat/wky_…" async></script>
 *
 * Optional attributes: data-position="left|right" (default right), data-color="#0f766e"
 * (otherwise the chat client's primaryColor, read from the public session endpoint),
 * data-lang="en|pt-BR|es" (otherwise the client's languageCode, then the host page's lang).
 *
 * What it does: a round launcher button in a bottom corner opens a panel holding the talk page
 * (an iframe of talkUrl + ?embed=1; full screen below 640 px). Escape closes the panel and
 * focus goes back to the launcher. A reply that finishes while the panel is closed shows an
 * unread badge. Loading the widget never moves the host page's focus.
 *
 * API: window.chinwag.open({focus}), .close(), .toggle(), .isOpen(); events on window:
 * chinwag:open, chinwag:close, chinwag:message (detail: {id, role, status, text}).
 *
 * Strict host CSP: no inline script, no eval, no inline <style> or style attribute, no
 * innerHTML (Trusted Types safe). Styles live in a constructed stylesheet adopted by a shadow
 * root (so the host's CSS cannot break the widget either) and in CSSOM properties. The host's
 * CSP must allow the chinwag origin in script-src and frame-src (and connect-src for the
 * colour, or pass data-color). The talk page itself must allow the host in frame-ancestors
 * (the client's allowedFrameOrigins).
 *
 * The panel and the page talk through postMessage, each checking the other's origin and window:
 * widget -> page: hello, focus, clear; page -> widget: ready, state, reply, close.
 */
(() => {
  "use strict";

  const script =
    document.currentScript || document.querySelector("script[data-talk-url][src*='widget.js']");
  if (!script || (window.chinwag && window.chinwag.widget)) return;

  let talkUrl;
  try {
    talkUrl = new URL(script.dataset.talkUrl || "", script.src || window.location.href);
  } catch {
    talkUrl = null;
  }
  if (!talkUrl || !/^https?:$/.test(talkUrl.protocol) || !/\/chat\/wky_[^/]+$/.test(talkUrl.pathname)) {
    console.warn("chinwag widget: data-talk-url must be a chat link (…/chat/wky_…)");
    return;
  }
  const ORIGIN = talkUrl.origin;
  const accessKey = talkUrl.pathname.split("/").pop();
  const side = script.dataset.position === "left" ? "left" : "right";
  const storageKey = `chinwag:${talkUrl.pathname}`;

  const CATALOG = {
    en: { open: "Open chat", close: "Close chat", clear: "Clear conversation", title: "Chat", unreadOne: "1 new reply", unread: "{count} new replies" },
    "pt-BR": { open: "Abrir chat", close: "Fechar chat", clear: "Limpar conversa", title: "Chat", unreadOne: "1 nova resposta", unread: "{count} novas respostas" },
    es: { open: "Abrir chat", close: "Cerrar chat", clear: "Borrar conversación", title: "Chat", unreadOne: "1 respuesta nueva", unread: "{count} respuestas nuevas" },
  };
  const pickLanguage = (code) => {
    const base = String(code || "").toLowerCase().split(/[-_]/)[0];
    return { pt: "pt-BR", es: "es", en: "en" }[base] || null;
  };
  let strings = CATALOG[pickLanguage(script.dataset.lang || document.documentElement.lang) || "en"];

  const state = { open: false, unread: 0, frameReady: false, canClear: false, title: null };

  // ---------------------------------------------------------------- styles (CSSOM only)

  const CSS = `
    :host { all: initial; }
    .launcher {
      position: fixed; bottom: 20px; ${side}: 20px; z-index: 2147483000;
      width: 60px; height: 60px; border-radius: 50%; border: 0; padding: 0; cursor: pointer;
      display: inline-flex; align-items: center; justify-content: center;
      background: var(--cw-primary); color: var(--cw-on-primary);
      box-shadow: 0 4px 14px rgba(16, 24, 40, .28), 0 1px 3px rgba(16, 24, 40, .2);
      transition: transform .15s ease;
    }
    .launcher:hover { transform: scale(1.05); }
    .launcher:focus-visible { outline: 3px solid var(--cw-primary); outline-offset: 3px; }
    .launcher[data-pending] { visibility: hidden; }
    .launcher svg { width: 28px; height: 28px; }
    .launcher .icon-close { display: none; }
    .launcher[aria-expanded="true"] .icon-chat { display: none; }
    .launcher[aria-expanded="true"] .icon-close { display: block; }
    .badge {
      position: absolute; top: -4px; ${side === "right" ? "left" : "right"}: -4px;
      min-width: 22px; height: 22px; padding: 0 6px; box-sizing: border-box; border-radius: 11px;
      background: #b42318; color: #fff; border: 2px solid #fff;
      font: 700 12px/18px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; text-align: center;
    }
    .badge[hidden], .panel[hidden] { display: none; }
    .panel {
      position: fixed; bottom: 92px; ${side}: 20px; z-index: 2147483001;
      width: min(400px, calc(100vw - 40px)); height: min(680px, calc(100vh - 116px));
      display: flex; flex-direction: column; overflow: hidden; border-radius: 16px;
      background: #fff; box-shadow: 0 12px 48px rgba(16, 24, 40, .28);
      font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
    }
    .bar {
      display: flex; align-items: center; gap: 2px; min-height: 52px; padding: 4px 4px 4px 16px;
      background: var(--cw-primary); color: var(--cw-on-primary); flex: none;
    }
    .title { flex: 1; min-width: 0; margin: 0; font-weight: 650; font-size: 16px;
      white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    .bar button {
      flex: none; width: 44px; height: 44px; border: 0; border-radius: 10px; padding: 0;
      display: inline-flex; align-items: center; justify-content: center;
      background: transparent; color: inherit; cursor: pointer;
    }
    .bar button:hover:not(:disabled) { background: color-mix(in srgb, currentColor 16%, transparent); }
    .bar button:disabled { opacity: .45; cursor: default; }
    .bar button:focus-visible { outline: 2px solid currentColor; outline-offset: -3px; }
    .bar svg { width: 20px; height: 20px; }
    iframe { flex: 1; width: 100%; border: 0; display: block; background: transparent; color-scheme: normal; }
    .sr { position: absolute; width: 1px; height: 1px; margin: -1px; overflow: hidden;
      clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; }
    @media (max-width: 640px) {
      .panel { inset: 0; width: 100%; height: 100%; height: 100dvh; border-radius: 0; }
      .launcher[aria-expanded="true"] { display: none; }
    }
    @media (prefers-reduced-motion: no-preference) {
      .panel:not([hidden]) { animation: cw-pop .18s ease-out; }
    }
    @media (prefers-reduced-motion: reduce) { .launcher { transition: none; } }
    @media (prefers-color-scheme: dark) { .panel { background: #111318; } }
    @keyframes cw-pop { from { opacity: 0; transform: translateY(8px); } to { opacity: 1; transform: none; } }
  `;

  // ---------------------------------------------------------------- DOM (no innerHTML)

  const SVG = "http://www.w3.org/2000/svg";
  function icon(className, paths) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("fill", "none");
    svg.setAttribute("stroke", "currentColor");
    svg.setAttribute("stroke-width", "2");
    svg.setAttribute("stroke-linecap", "round");
    svg.setAttribute("stroke-linejoin", "round");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", className);
    for (const d of paths) {
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    }
    return svg;
  }
  const CHAT = ["M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"];
  const CLOSE = ["M18 6 6 18", "M6 6l12 12"];
  const TRASH = ["M3 6h18", "M8 6V4a1 1 0 0 1 1-1h6a1 1 0 0 1 1 1v2", "M19 6l-1 14a2 2 0 0 1-2 2H8a2 2 0 0 1-2-2L5 6"];

  function make(tag, props, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children || []) node.appendChild(child);
    return node;
  }

  const host = make("div", { "data-chinwag-widget": "" });
  const root = host.attachShadow({ mode: "open" });
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  root.adoptedStyleSheets = [sheet];

  const badge = make("span", { class: "badge", "aria-hidden": "true" });
  badge.hidden = true;
  const launcher = make("button", { type: "button", class: "launcher", "aria-expanded": "false", "aria-controls": "chinwag-panel", "data-pending": "" }, [
    icon("icon-chat", CHAT),
    icon("icon-close", CLOSE),
    badge,
  ]);
  const title = make("h2", { class: "title", id: "chinwag-title" });
  const clearButton = make("button", { type: "button", class: "clear" }, [icon("", TRASH)]);
  clearButton.disabled = true;
  const closeButton = make("button", { type: "button", class: "close" }, [icon("", CLOSE)]);
  const panel = make("div", { class: "panel", id: "chinwag-panel", role: "dialog", "aria-labelledby": "chinwag-title" }, [
    make("div", { class: "bar" }, [title, clearButton, closeButton]),
  ]);
  panel.hidden = true;
  const live = make("div", { class: "sr", "aria-live": "polite" });
  root.append(launcher, panel, live);
  let frame = null;

  // ---------------------------------------------------------------- look

  function rgbOf(color) {
    const probe = make("span");
    probe.style.color = color;
    root.appendChild(probe);
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
  const contrast = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };

  /* The launcher and bar use the client's colour; a mid-tone one is darkened until white text
   * and icons on it reach 4.5:1. */
  function applyColor(color) {
    const rgb = rgbOf(color || "#4f46e5") || [79, 70, 229];
    const white = [255, 255, 255];
    const dark = [17, 19, 24];
    let background = rgb;
    let foreground = contrast(rgb, white) >= contrast(rgb, dark) ? white : dark;
    for (let step = 1; contrast(background, foreground) < 4.5 && step <= 20; step += 1) {
      foreground = white;
      background = rgb.map((v) => Math.round(v * (1 - step / 20)));
    }
    host.style.setProperty("--cw-primary", `rgb(${background.join(", ")})`);
    host.style.setProperty("--cw-on-primary", `rgb(${foreground.join(", ")})`);
    launcher.removeAttribute("data-pending");
  }

  function applyStrings() {
    const name = state.title || strings.title;
    title.textContent = name;
    clearButton.setAttribute("aria-label", strings.clear);
    clearButton.title = strings.clear;
    closeButton.setAttribute("aria-label", strings.close);
    closeButton.title = strings.close;
    if (frame) frame.title = name;
    const unread = state.unread
      ? ` (${state.unread === 1 ? strings.unreadOne : strings.unread.replace("{count}", state.unread)})`
      : "";
    launcher.setAttribute("aria-label", `${state.open ? strings.close : strings.open}: ${name}${unread}`);
  }

  /* The colour and name come from the public session endpoint (CORS is open there); a host
   * CSP without connect-src for chinwag just keeps the defaults (or data-color). */
  function loadLook() {
    const given = script.dataset.color;
    if (given) applyColor(given);
    const fallback = setTimeout(() => applyColor(given), 2500);
    const url = new URL(`../api/v1/public/chat-clients/${encodeURIComponent(accessKey)}/session`, talkUrl);
    fetch(url, { credentials: "omit", referrerPolicy: "no-referrer", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : null))
      .then((body) => {
        const params = body && body.data && body.data.clientParameters;
        if (!params) return;
        if (!script.dataset.lang && pickLanguage(params.languageCode)) {
          strings = CATALOG[pickLanguage(params.languageCode)];
        }
        if (params.pageTitle) state.title = params.pageTitle;
        applyStrings();
        state.colorKnown = true;
        if (!given) applyColor(params.primaryColor);
      })
      .catch(() => {})
      .finally(() => {
        clearTimeout(fallback);
        if (launcher.hasAttribute("data-pending")) applyColor(given);
      });
  }

  // ---------------------------------------------------------------- the panel's frame

  function ensureFrame() {
    if (frame) return frame;
    const src = new URL(talkUrl);
    src.searchParams.set("embed", "1");
    frame = make("iframe", { src: src.toString(), title: state.title || strings.title, allow: "clipboard-write" });
    // Say hello on every load (the page may reload itself, e.g. to pick the language).
    frame.addEventListener("load", () => {
      state.frameReady = false;
      post("hello");
    });
    panel.appendChild(frame);
    try {
      window.sessionStorage.setItem(storageKey, "1");
    } catch {
      /* storage may be off: the frame then loads on first open only */
    }
    return frame;
  }

  function post(type) {
    if (frame && frame.contentWindow) frame.contentWindow.postMessage({ chinwag: 1, type }, ORIGIN);
  }

  window.addEventListener("message", (event) => {
    const data = event.data;
    if (!frame || event.origin !== ORIGIN || event.source !== frame.contentWindow) return;
    if (!data || data.chinwag !== 1) return;
    if (data.type === "ready") {
      state.frameReady = true;
      if (data.title) state.title = String(data.title);
      // The page knows the colour too: useful when the host's CSP kept the widget from
      // reading the session endpoint.
      if (!script.dataset.color && !state.colorKnown && data.primaryColor) applyColor(data.primaryColor);
      applyStrings();
      if (state.open && state.wantFocus) post("focus");
    } else if (data.type === "state") {
      clearButton.disabled = !data.canClear;
    } else if (data.type === "close") {
      close();
    } else if (data.type === "reply") {
      const detail = { id: data.id ?? null, role: "assistant", status: data.status ?? null, text: String(data.text ?? "") };
      if (!state.open || document.visibilityState === "hidden") {
        state.unread += 1;
        showUnread();
      }
      window.dispatchEvent(new CustomEvent("chinwag:message", { detail }));
    }
  });

  function showUnread() {
    badge.hidden = state.unread === 0;
    badge.textContent = state.unread > 9 ? "9+" : String(state.unread);
    applyStrings();
    if (state.unread) {
      live.textContent = state.unread === 1 ? strings.unreadOne : strings.unread.replace("{count}", state.unread);
    }
  }

  // ---------------------------------------------------------------- open / close

  const focusInside = () => document.activeElement === host;

  function open(options) {
    const focus = !options || options.focus !== false;
    ensureFrame();
    if (!state.open) {
      state.open = true;
      panel.hidden = false;
      launcher.setAttribute("aria-expanded", "true");
      state.unread = 0;
      showUnread();
      live.textContent = "";
      window.dispatchEvent(new CustomEvent("chinwag:open"));
    }
    state.wantFocus = focus;
    if (focus) {
      frame.focus();
      if (state.frameReady) post("focus");
    }
  }

  function close() {
    if (!state.open) return;
    const hadFocus = focusInside();
    state.open = false;
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    applyStrings();
    if (hadFocus) launcher.focus();
    window.dispatchEvent(new CustomEvent("chinwag:close"));
  }

  const toggle = () => (state.open ? close() : open());

  launcher.addEventListener("click", toggle);
  closeButton.addEventListener("click", close);
  clearButton.addEventListener("click", () => post("clear"));
  root.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.open) {
      event.preventDefault();
      close();
    }
  });

  window.chinwag = Object.freeze({
    widget: true,
    open,
    close,
    toggle,
    isOpen: () => state.open,
  });

  // ---------------------------------------------------------------- start (never takes focus)

  function start() {
    applyStrings();
    document.body.appendChild(host);
    loadLook();
    let opened = false;
    try {
      opened = window.sessionStorage.getItem(storageKey) === "1";
    } catch {
      opened = false;
    }
    // Opened before in this tab: load the (hidden) panel now, so a reply still being written
    // shows its unread badge on this page too.
    if (opened) ensureFrame();
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
})();
