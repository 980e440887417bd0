/* The session-expired screen: shows when the session ended, in the page's language. */
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("cw-notice-data").textContent);
  const target = document.getElementById("cw-expired-at");
  if (!target || !data.expiredAt) return;
  const when = new Intl.DateTimeFormat(data.language, { dateStyle: "long", timeStyle: "short" })
    .format(new Date(data.expiredAt * 1000));
  target.textContent = data.template.replace("{date}", when);
})();
