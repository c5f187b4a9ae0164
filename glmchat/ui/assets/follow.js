// What Streamlit has no API for, in one static script that writes no message text into the page:
// - the chat view follows what you send (Streamlit's main area then keeps following a streaming reply
//   while the view is at the bottom, and stops when the reader scrolls up); a "↓" jumps to the newest
//   message whenever it is out of view;
// - focus goes where the user types next: the chat input after New chat, the edit box after Edit, the
//   History page's search after the search shortcut;
// - on a phone, the sidebar's drawer closes after a conversation or New chat is chosen in it;
// - Copy in one click: the click's run sends the message's Markdown in a code box (chat_view.draw_copy);
//   its text (the only message text this script reads) goes to the clipboard, the box stays hidden, and
//   a ✓ shows by the button.
(() => {
  if (window.__glmchatFollow) return;  // once per page: Streamlit may mount this element again
  window.__glmchatFollow = true;

  const zh = (navigator.language || "").toLowerCase().startsWith("zh");
  const label = zh ? "跳到最新消息" : "Jump to the newest message";
  const main = () => document.querySelector('[data-testid="stAppScrollToBottomContainer"]')
    || document.querySelector('[data-testid="stMain"]');
  const userCount = () => document.querySelectorAll('[data-testid="stChatMessageAvatarUser"]').length;
  const toBottom = () => { const el = main(); if (el) el.scrollTo({ top: el.scrollHeight }); };

  const jump = document.createElement("button");
  jump.type = "button";
  jump.textContent = "↓";
  jump.title = label;
  jump.setAttribute("aria-label", label);
  jump.setAttribute("data-testid", "glmchatJumpToNewest");
  Object.assign(jump.style, {
    position: "fixed", zIndex: "1000", display: "none", width: "2.5rem", height: "2.5rem",
    borderRadius: "50%", cursor: "pointer", fontSize: "1.25rem", lineHeight: "1",
    border: "1px solid rgba(128, 128, 128, 0.4)", boxShadow: "0 1px 4px rgba(0, 0, 0, 0.2)",
  });
  jump.addEventListener("click", toBottom);
  document.body.appendChild(jump);

  // The copy source stays hidden; the chat's header line (model, New chat) sticks under Streamlit's header
  // (its wrapper does: the line itself fills its wrapper exactly),
  // on the app's own background (rewritten only when the theme changes it).
  const css = document.createElement("style");
  document.head.appendChild(css);
  let cssBackground = null;
  const writeCss = () => {
    const bg = getComputedStyle(document.querySelector('[data-testid="stApp"]') || document.body).backgroundColor;
    if (bg === cssBackground) return;
    cssBackground = bg;
    css.textContent = '[class*="st-key-copysrc-"] { display: none; }\n'
      + `[data-testid="stLayoutWrapper"]:has(> .st-key-chat-header) { position: sticky; top: 3.75rem; z-index: 99; background: ${bg}; }`;
  };
  writeCss();
  let copyWanted = null;  // {id, button, at}: a Copy was clicked, its Markdown is on its way
  const copyText = async (text) => {
    try { await navigator.clipboard.writeText(text); return true; } catch (e) { /* not a secure context */ }
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    Object.assign(area.style, { position: "fixed", left: "-9999px", top: "0" });
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    return ok;
  };
  const showCopied = (button, ok) => {
    const chinese = /[\u4e00-\u9fff]/.test(button.innerText || "");
    const note = document.createElement("div");
    note.setAttribute("role", "status");
    note.setAttribute("data-testid", "glmchatCopied");
    note.textContent = ok ? (chinese ? "✓ 已复制" : "✓ Copied") : (chinese ? "复制失败" : "Copy failed");
    const app = getComputedStyle(document.querySelector('[data-testid="stApp"]') || document.body);
    const at = button.getBoundingClientRect();
    Object.assign(note.style, {
      position: "fixed", zIndex: "1001", left: `${at.left}px`, top: `${Math.max(0, at.top - 34)}px`,
      padding: "0.2rem 0.5rem", borderRadius: "0.4rem", fontSize: "0.85rem", pointerEvents: "none",
      background: app.backgroundColor, color: app.color, border: "1px solid rgba(128, 128, 128, 0.4)",
    });
    document.body.appendChild(note);
    setTimeout(() => note.remove(), 1500);
    button.focus();
  };
  const copyWhenArrived = () => {
    if (!copyWanted) return;
    const source = document.querySelector(`.st-key-copysrc-${CSS.escape(copyWanted.id)} code`);
    if (source) {
      const wanted = copyWanted;
      copyWanted = null;
      copyText(source.textContent).then((ok) => showCopied(wanted.button, ok));
    } else if (Date.now() - copyWanted.at > 10000) {
      copyWanted = null;
    }
  };

  let sent = false;  // the user just sent something: show it when it arrives
  let users = userCount();
  // Styles are written only when they change: every write is a DOM mutation the page's observers see.
  const set = (name, value) => { if (jump.style[name] !== value) jump.style[name] = value; };
  const place = () => {
    const el = main();
    if (!el) return;
    const hidden = el.scrollHeight - el.scrollTop - el.clientHeight > 120 && userCount() > 0;
    if (hidden) {
      const app = getComputedStyle(document.querySelector('[data-testid="stApp"]') || document.body);
      const area = el.getBoundingClientRect();
      const bottom = document.querySelector('[data-testid="stBottom"]');
      const limit = bottom ? bottom.getBoundingClientRect().top : area.bottom;
      set("background", app.backgroundColor);
      set("color", app.color);
      set("left", `${area.left + area.width / 2 - 20}px`);
      set("top", `${limit - 56}px`);
    }
    set("display", hidden ? "block" : "none");
  };
  let queued = false;
  const changed = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      const now = userCount();
      if (sent && now > users) { sent = false; toBottom(); }
      users = now;
      place();
      focusWhenShown();
      copyWhenArrived();
      writeCss();
    });
  };
  document.addEventListener("keydown", (e) => {
    const box = e.target && e.target.closest && e.target.closest('[data-testid="stChatInput"]');
    if (box && e.key === "Enter" && !e.shiftKey && !e.isComposing) { sent = true; toBottom(); }
  }, true);
  // Focus: after a click on one of these, the first element matching its target gets it once it shows.
  const FOCUS = [
    ['.st-key-new-chat button, .st-key-new-chat-top button', '[data-testid="stChatInputTextArea"]'],
    ['[class*="st-key-edit-"]:not([class*="st-key-edit-send-"]):not([class*="st-key-edit-cancel-"]) button',
     '[class*="st-key-w_edit_"] textarea'],
    ['.st-key-search-chats button', '.st-key-w_search input'],
  ];
  let focusTarget = null;
  const focusWhenShown = () => {
    if (!focusTarget) return;
    const el = document.querySelector(focusTarget);
    if (el && !el.disabled) { el.focus(); focusTarget = null; }
  };
  const narrow = () => window.innerWidth <= 768;  // Streamlit's "md" breakpoint: the sidebar is a drawer
  document.addEventListener("click", (e) => {
    const t = e.target && e.target.closest ? e.target : null;
    if (!t) return;
    if (t.closest('[data-testid="stChatInputSubmitButton"]')) { sent = true; toBottom(); }
    for (const [trigger, target] of FOCUS) if (t.closest(trigger)) focusTarget = target;
    const copy = t.closest('[class*="st-key-copy-"] button');
    if (copy) {
      const key = [...copy.closest('[class*="st-key-copy-"]').classList].find((c) => c.startsWith("st-key-copy-"));
      copyWanted = { id: key.slice("st-key-copy-".length), button: copy, at: Date.now() };
    }
    const chosen = t.closest('[data-testid="stSidebar"] [class*="st-key-conv-"] button, .st-key-new-chat button');
    if (chosen && narrow()) {
      const close = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
      if (close) setTimeout(() => close.click(), 0);
    }
  }, true);
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && (e.key === "k" || e.key === "K")) focusTarget = FOCUS[2][1];
    if ((e.ctrlKey || e.metaKey) && e.shiftKey && (e.key === "o" || e.key === "O")) focusTarget = FOCUS[0][1];
  }, true);
  document.addEventListener("scroll", changed, true);
  window.addEventListener("resize", changed);
  new MutationObserver(changed).observe(document.body, { childList: true, subtree: true });
})();
