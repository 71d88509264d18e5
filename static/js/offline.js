/* The offline layer's page side, on every page: the service worker (registration, "Update
   available", OFFLINE_READY), the offline badge, notices of writes the server refused, and
   replaying the outbox (static/js/replay.js) on start and on `online`. Writes from the card
   are card.js's; the pending writes it lays over cached pages are card.js's and calendar.js's.
   Plain JavaScript, no build step; boot.js starts it after the first paint. */
"use strict";

(function () {
  var C = self.Closer;
  var outbox = self.CloserOutbox;
  var sw = "serviceWorker" in navigator ? navigator.serviceWorker : null;
  var noop = C.noop;

  function $(id) { return document.getElementById(id); }

  // Post to the active worker (it need not control this page yet).
  function tellWorker(message) {
    if (!sw) return;
    sw.ready.then(function (reg) { if (reg.active) reg.active.postMessage(message); }).catch(noop);
  }

  function requestSync() {
    if (!sw) return;
    sw.ready.then(function (reg) {
      if (reg.sync) return reg.sync.register("closer-outbox");
    }).catch(noop);
  }

  // After writes reached the server, the worker fetches the pages that show them again.
  function refreshAfter(paths) {
    var days = paths.map(C.dayWrite).filter(Boolean).map(function (w) { return C.dayUrl("day", w.day); });
    tellWorker({ type: "REFRESH", urls: [C.url("today"), C.url("progress")].concat(days) });
  }

  /* ---------------- the badge and notices ---------------- */

  function refreshBadge() {
    var badge = $("offline-badge");
    if (!badge || !outbox) return Promise.resolve();
    return outbox.count().then(function (pending) {
      var offline = navigator.onLine === false;
      badge.hidden = !(offline || pending > 0);
      badge.textContent = offline
        ? "Offline. Your changes are saved on this phone and will sync."
        : "Your changes are saved on this phone and will sync soon.";
    }, noop);
  }

  var KIND_NAMES = { done: "Done", undo: "Undo", reflection: "reflection", write: "change" };

  function reasonFrom(html) {
    try {
      var doc = new DOMParser().parseFromString(html || "", "text/html");
      var el = doc.querySelector(".error, .error-box p");
      return el ? el.textContent.trim() : "";
    } catch (e) { return ""; }
  }

  function showNotice(text) {
    var box = $("outbox-notice");
    if (!box) return;
    $("outbox-notice-text").textContent = text;
    box.hidden = false;
  }

  function showNotices() {
    if (!outbox) return;
    outbox.takeNotices().then(function (notices) {
      if (!notices || !notices.length) return;
      var lines = notices.map(function (n) {
        var what = n.kind === "reflection" ? "Your reflection" : "Your " + (KIND_NAMES[n.kind] || "change");
        var line = what + (n.day ? " for " + n.day : "") + " could not be saved";
        var reason = reasonFrom(n.html);
        line += reason ? ": " + reason : ".";
        if (n.text) line += " You wrote: \u201c" + n.text + "\u201d";
        return line;
      });
      showNotice(lines.join(" "));
    }, noop);
  }

  // Any htmx request that fails for want of a network must not leave the page broken.
  document.addEventListener("htmx:error", function (event) {
    var ctx = event.detail && event.detail.ctx;
    if (!ctx || ctx.response) return; // an answer came: the swap shows it
    refreshBadge();
    showNotice("That did not reach Closer: you seem to be offline. Try again when you are back online.");
  });

  /* ---------------- replay ---------------- */

  var replayTimer = null;
  function replaySoon() {
    clearTimeout(replayTimer);
    replayTimer = setTimeout(replay, 50);
  }

  function replay() {
    if (!outbox || navigator.onLine === false) return Promise.resolve();
    return outbox.replay().then(function (summary) {
      if (summary.sent.length) refreshAfter(summary.sent);
      return summary;
    }, noop);
  }

  /* ---------------- the worker: registration and updates ---------------- */

  var updateRequested = false;
  var waitingWorker = null;

  function offerUpdate(worker) {
    waitingWorker = worker;
    var banner = $("update-banner");
    if (banner) banner.hidden = false;
  }

  function watchUpdates(reg) {
    if (reg.waiting && sw.controller) offerUpdate(reg.waiting);
    reg.addEventListener("updatefound", function () {
      var worker = reg.installing;
      if (!worker) return;
      worker.addEventListener("statechange", function () {
        if (worker.state === "installed" && sw.controller) offerUpdate(worker);
      });
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") reg.update().catch(noop);
    });
  }

  function setupWorker() {
    if (!sw) return;
    var hadController = Boolean(sw.controller);
    sw.register(C.url("worker"), { scope: C.url("today"), updateViaCache: "none" }).then(watchUpdates).catch(noop);

    sw.addEventListener("controllerchange", function () {
      if (updateRequested) {
        location.reload();
      } else if (hadController) {
        // Another tab applied an update: this page's HTML and scripts are now older than the
        // worker's. Say so instead of reloading under the user's fingers.
        var banner = $("update-banner");
        if (banner) {
          banner.textContent = "Closer was updated. Tap to reload.";
          banner.hidden = false;
        }
      }
      hadController = true;
    });

    var banner = $("update-banner");
    if (banner) {
      banner.addEventListener("click", function () {
        updateRequested = true;
        banner.disabled = true;
        banner.textContent = "Updating…";
        if (waitingWorker) waitingWorker.postMessage({ type: "SKIP_WAITING" });
        else location.reload();
      });
    }

    sw.addEventListener("message", function (event) {
      if (event.data && event.data.type === "OFFLINE_READY") {
        document.documentElement.dataset.offlineReady = event.data.today;
      }
    });

    // The worker works out this page's today itself, from the page's clock and zone.
    if (navigator.onLine !== false) {
      tellWorker({ type: "VISITED", now: Date.now(), zone: document.body.dataset.zone || "" });
    }
  }

  /* ---------------- start ---------------- */

  // What card.js and calendar.js (loaded before this file) lay over a cached page, if any.
  function overlays() {
    var card = self.CloserCard;
    var calendar = self.CloserCalendar;
    return Promise.all([card ? card.overlay() : null, calendar ? calendar.overlay() : null]);
  }

  function start() {
    // After "delete everything" this phone forgets (forget.js); nothing may start again.
    if (document.body.hasAttribute("data-forget-device")) return;
    setupWorker();
    if (!outbox) return;
    if (C.csrfToken()) outbox.rememberToken(C.csrfToken()).catch(noop);
    outbox.onChange(function () {
      refreshBadge();
      if (self.CloserCard) self.CloserCard.settleNotes();
      if (self.CloserCalendar) self.CloserCalendar.overlay();
      showNotices();
    });
    var notice = $("outbox-notice-close");
    if (notice) notice.addEventListener("click", function () { $("outbox-notice").hidden = true; });
    window.addEventListener("online", function () { refreshBadge(); replay(); });
    window.addEventListener("offline", refreshBadge);
    refreshBadge();
    showNotices();
    overlays().then(replay);
  }

  self.CloserOffline = {
    tellWorker: tellWorker,
    requestSync: requestSync,
    refreshAfter: refreshAfter,
    refreshBadge: refreshBadge,
    replaySoon: replaySoon
  };

  self.Closer.whenParsed(start);
})();
