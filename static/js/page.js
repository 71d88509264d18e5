/* Every page's basics: CSRF for htmx, the reflection counter and the first visit's time-zone
   report. Plain JavaScript, no build step; boot.js starts it after the first paint. */
"use strict";

(function () {
  var C = self.Closer;

  // htmx 4 lets us add headers to every request it makes; Flask-WTF reads X-CSRFToken.
  document.addEventListener("htmx:config:request", function (event) {
    event.detail.ctx.request.headers["X-CSRFToken"] = C.csrfToken();
  });
  // An error shown for an earlier request (HX-Retarget #request-error) is old news now.
  document.addEventListener("htmx:before:request", function () {
    var box = document.getElementById("request-error");
    if (box) box.replaceChildren();
  });

  /* The reflection counter, by the server's rule (blueprints/practice.py): what is saved is the
     text trimmed, counted in code points (an emoji is one, not two UTF-16 units), at most
     REFLECTION_MAX (the field's data-max; no maxlength, which counts UTF-16 units and would
     cut a paste short). So the count is the same before and after a reload, and a text the
     server would refuse is not sent: the form says why instead, and keeps every word. */
  var REFLECTION_MAX = 2000;

  function reflectionLength(text) {
    return Array.from(text.trim()).length;
  }

  // "1,234", written out: toLocaleString's first call sets up ICU (tens of ms on a slow
  // phone), which the first keystroke would wait for. The server writes `{:,}`.
  function thousands(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  function countText(text, max) {
    return thousands(reflectionLength(text)) + " / " + thousands(max || REFLECTION_MAX);
  }
  C.countText = countText; // card.js fills its reflection template with it

  function checkLength(field) {
    var max = Number(field.dataset.max) || REFLECTION_MAX;
    var length = reflectionLength(field.value);
    var over = length > max;
    field.setCustomValidity(over
      ? "Reflections can be up to " + thousands(max) + " characters; this one is " + thousands(length) + "."
      : "");
    return over;
  }

  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!field.matches || !field.matches("textarea[data-max]")) return;
    var out = document.getElementById(field.id.replace("-text", "-count"));
    var over = checkLength(field);
    if (out) {
      out.value = countText(field.value, Number(field.dataset.max));
      out.classList.toggle("over", over);
    }
    // "Saved" spoke of the text as it was; once it changes, it is no longer true.
    if (field.form) field.form.querySelectorAll(".saved").forEach(function (note) { note.remove(); });
  });

  /* First visit: tell the server the browser's zone, so "today" is the user's own date. Only
     then does the page set up Intl (the zone and today's date in it). */
  function browserZone() {
    try {
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
      var today = zone ? new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(new Date()) : "";
      return { zone: zone, today: today };
    } catch (error) {
      return { zone: "", today: "" }; // no Intl or an unknown zone: report nothing
    }
  }

  function reportTimeZone() {
    if (document.body.dataset.zoneState !== "unknown") return;
    var found = browserZone();
    if (!found.zone) return;
    fetch(C.url("timezone"), {
      method: "POST",
      body: new URLSearchParams({ time_zone: found.zone, detected: "1" }),
      credentials: "same-origin",
      headers: { "X-CSRFToken": C.csrfToken(), "HX-Request": "true" }
    }).then(function (response) {
      if (!response.ok) return;
      // Only the card can depend on the zone; reload it if the local date differs. This page
      // is then on its way out: "confirmed" is for a page that shows the user's own day.
      var card = document.getElementById("card");
      if (card && card.dataset.day && location.pathname === C.url("today") && card.dataset.day !== found.today) {
        location.reload();
        return;
      }
      document.body.dataset.zoneState = "confirmed";
    }).catch(C.noop); // offline: try again next visit
  }

  C.whenParsed(reportTimeZone);
})();
