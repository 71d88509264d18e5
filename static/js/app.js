/* Closer's page script: CSRF for htmx, the reflection counter, and first-visit time zone.
   Plain JavaScript, no build step. Offline and push live in their own files. */
"use strict";

(function () {
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // htmx 4 lets us add headers to every request it makes; Flask-WTF reads X-CSRFToken.
  document.addEventListener("htmx:config:request", function (event) {
    event.detail.ctx.request.headers["X-CSRFToken"] = csrfToken();
  });

  function updateCounter(textarea) {
    var out = document.getElementById(textarea.id.replace("-text", "-count"));
    if (out) out.value = textarea.value.length.toLocaleString("en") + " / 2,000";
  }
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("textarea[maxlength]")) updateCounter(event.target);
  });

  // First visit: tell the server the browser's zone, so "today" is the user's own date.
  function reportTimeZone() {
    if (document.body.dataset.zoneState !== "unknown") return;
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
    if (!zone) return;
    var body = new URLSearchParams({ time_zone: zone, detected: "1" });
    fetch("/settings/timezone", {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" }
    }).then(function (response) {
      if (!response.ok) return;
      document.body.dataset.zoneState = "confirmed";
      // Only the card can depend on the zone; reload it if the local date differs.
      var card = document.getElementById("card");
      var today = new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(new Date());
      if (card && card.dataset.day && location.pathname === "/" && card.dataset.day !== today) {
        location.reload();
      }
    }).catch(function () { /* offline: try again next visit */ });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", reportTimeZone);
  } else {
    reportTimeZone();
  }

  // Scripts nobody needs before the first paint (the reminder panel's) load after `load`,
  // so a first visit on a slow network paints sooner and waits for fewer bytes. Until then
  // their forms still work as plain POSTs.
  var later = (document.currentScript && document.currentScript.dataset.afterLoad) || "";
  function loadLater() {
    later.split(" ").filter(Boolean).forEach(function (src) {
      var script = document.createElement("script");
      script.src = src;
      script.async = false;
      document.head.appendChild(script);
    });
  }
  if (document.readyState === "complete") loadLater();
  else window.addEventListener("load", loadLater);
})();
