/* Closer: a day page shown from a cache is brought up to date before anyone can act on it.

   The back/forward cache (`pageshow` with `persisted`), the HTTP cache on a history
   navigation, and the service worker answering from its cache (network first, but a slow
   network gets the cached copy) can all show a card the server has moved past. Then the
   card's forms are held (inert) while we ask the server for the card again with the
   revisions it shows (`/day/<day>/card?revision=&done=`): 204 means it is current, 200 brings
   the current card, whose Done area and reflection replace the old ones. A reflection with
   an unsaved draft (or a conflict still to settle) is kept as it is, with its old revision:
   saving it meets the server's conflict answer (both texts) instead of overwriting newer
   words. A card with writes
   waiting in the offline outbox (its "saved on this phone" notes) is left to the outbox.
   Offline, or on any failure, the forms are released as they were. */
"use strict";

(function () {
  var PARTS = ["done", "reflection"];
  var GIVE_UP_MS = 4000;

  function hold(card, on) {
    PARTS.forEach(function (id) {
      var part = document.getElementById(id);
      if (part) part.inert = on;
    });
    if (on) card.setAttribute("aria-busy", "true");
    else card.removeAttribute("aria-busy");
  }

  // Words on screen that the server does not hold: an unsaved draft, or a conflict's "Yours".
  function hasDraft(part) {
    var field = part.querySelector("textarea");
    return part.classList.contains("conflict") || (field !== null && field.value !== field.defaultValue);
  }

  function replaceParts(card, html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var next = fresh.getElementById("card");
    if (!next) return;
    PARTS.forEach(function (id) {
      var old = document.getElementById(id);
      var now = fresh.getElementById(id);
      if (!old || !now || (id === "reflection" && hasDraft(old))) return;
      old.replaceWith(now);
      if (window.htmx) window.htmx.process(now);
    });
    card.dataset.done = next.dataset.done;
    if (!document.getElementById("reflection") || !hasDraft(document.getElementById("reflection"))) {
      card.dataset.revision = next.dataset.revision;
    }
  }

  function revalidate() {
    var card = document.getElementById("card");
    if (!card || !card.dataset.day || navigator.onLine === false) return;
    if (card.querySelector(".pending-note")) return;
    card.dataset.fresh = "checking"; // "true" once checked (tests wait for it)
    hold(card, true);
    var query = "?revision=" + encodeURIComponent(card.dataset.revision || "") +
      "&done=" + encodeURIComponent(card.dataset.done || "");
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, GIVE_UP_MS) : null;
    fetch("/day/" + card.dataset.day + "/card" + query, {
      credentials: "same-origin",
      cache: "no-store",
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      return response.status === 200 ? response.text() : "";
    }).then(function (html) {
      if (html) replaceParts(card, html);
    }).catch(function () { /* offline or slow: the server's revision check still guards */ })
      .then(function () {
        clearTimeout(timer);
        hold(card, false);
        card.dataset.fresh = "true";
      });
  }

  function fromCache() {
    var nav = window.performance && performance.getEntriesByType
      ? performance.getEntriesByType("navigation")[0] : null;
    if (nav && nav.type === "back_forward") return true; // the HTTP cache may have answered
    // A service worker may have answered from its cache when the network was slow.
    return Boolean(navigator.serviceWorker && navigator.serviceWorker.controller);
  }

  /* A reflection kept on this phone (the outbox answered for the server) is drawn from the
     offline template, whose revision is unknown (""): it follows the write just queued, so
     name that write ("key:<its key>", revisions.py). A second edit made offline then replays
     after the first without a conflict. */
  document.addEventListener("htmx:after:request", function (event) {
    var ctx = event.detail && event.detail.ctx;
    var form = ctx && ctx.sourceElement && ctx.sourceElement.closest
      ? ctx.sourceElement.closest('form[data-outbox="reflect"]') : null;
    var body = ctx && ctx.request && ctx.request.body;
    var key = body && typeof body.get === "function" ? body.get("key") : null;
    if (!form || !key || typeof ctx.text !== "string" || ctx.text.indexOf("pending-note") < 0) return;
    ctx.text = ctx.text.replace('name="revision" value=""', 'name="revision" value="key:' + key + '"');
  });

  window.addEventListener("pageshow", function (event) {
    if (event.persisted || fromCache()) revalidate();
  });
})();
