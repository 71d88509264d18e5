/* Closer's offline layer on the page side: service worker registration, the outbox,
   the offline badge, install and update prompts. Plain JavaScript, no build step.

   Writes (the forms marked data-outbox="done|undo|reflect") go through htmx as usual, with
   a fresh UUID as their idempotency key. If the server cannot be reached (offline, a
   timeout, 5xx, 429), or earlier writes are still waiting, the write joins the IndexedDB
   outbox (static/js/outbox.js) and the card shows its result at once, rendered from the
   inert <template>s in the card. The outbox is replayed in order on `online`, on start and
   by the worker's Background Sync; on a reload while offline its pending entries are laid
   over the (cached) card again. */
"use strict";

(function () {
  var outbox = self.CloserOutbox;
  var sw = "serviceWorker" in navigator ? navigator.serviceWorker : null;
  var DAY_WRITE = /^\/day\/(\d{4}-\d{2}-\d{2})\/(done|undo|reflection)$/;

  function $(id) { return document.getElementById(id); }
  function noop() {}

  // The user's date: in the zone from Settings once confirmed (<body data-zone>), so near
  // midnight the page and the server agree on "today" wherever the phone's clock is set.
  function localDate(date) {
    var parts = {};
    var options = { year: "numeric", month: "2-digit", day: "2-digit" };
    var format;
    try {
      format = new Intl.DateTimeFormat("en-CA", Object.assign({ timeZone: document.body.dataset.zone || undefined }, options));
    } catch (error) {
      format = new Intl.DateTimeFormat("en-CA", options); // a zone this browser does not know
    }
    format.formatToParts(date || new Date()).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day;
  }

  function utcDate(daysFromNow) {
    return new Date(Date.now() + daysFromNow * 86400000).toISOString().slice(0, 10);
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

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

  /* ---------------- rendering the card from its templates ---------------- */

  function cardDay() {
    var card = $("card");
    return card ? card.dataset.day : null;
  }

  function fromTemplate(id, fill) {
    var tpl = $(id);
    if (!tpl) return null;
    var fragment = tpl.content.cloneNode(true);
    fragment.querySelectorAll('input[name="key"]').forEach(function (input) { input.value = outbox.uuid(); });
    fragment.querySelectorAll('input[name="csrf_token"]').forEach(function (input) {
      if (csrfToken()) input.value = csrfToken();
    });
    if (fill) fill(fragment);
    var holder = document.createElement("div");
    holder.appendChild(fragment);
    return holder.innerHTML.trim();
  }

  function doneHtml(done, pending) {
    return fromTemplate(done ? "offline-done" : "offline-undone", function (fragment) {
      if (!pending) fragment.querySelectorAll(".pending-note").forEach(function (n) { n.remove(); });
    });
  }

  // app.js's counter text; a page kept from before it had one may load this file offline.
  function countText(length) {
    if (self.closerCountText) return self.closerCountText(length);
    return length.toLocaleString("en") + " / 2,000";
  }

  function reflectionHtml(text, pending) {
    return fromTemplate("offline-reflection", function (fragment) {
      fragment.querySelector("textarea").textContent = text;
      fragment.querySelector("output").textContent = countText(text.length);
      if (!pending) fragment.querySelectorAll(".pending-note").forEach(function (n) { n.remove(); });
    });
  }

  function optimisticHtml(kind, fields) {
    if (kind === "reflect") return reflectionHtml(fields.text || "", true);
    return doneHtml(kind === "done", true);
  }

  // Replace (or, for a missing reflection area, insert) a part of the card.
  function place(id, html, after) {
    if (!html) return;
    var current = $(id);
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.firstElementChild;
    if (current) current.replaceWith(fresh);
    else if (after && $(after)) $(after).after(fresh);
    else return;
    if (self.htmx) self.htmx.process(fresh);
  }

  /* Lay the outbox's pending writes for this card's day over the card: after a reload while
     offline the (cached) page still shows what the user did. A card cached before its day
     had come gets its Done button and reflection field once the device's date reaches it. */
  function overlay() {
    var day = cardDay();
    if (!day || !outbox) return Promise.resolve();
    return outbox.all().then(function (entries) {
      var done = null;
      var text = null;
      entries.forEach(function (entry) {
        var m = DAY_WRITE.exec(entry.url);
        if (!m || m[1] !== day) return;
        if (m[2] === "done") done = true;
        else if (m[2] === "undo") done = false;
        else text = entry.fields.text || "";
      });
      // Asked only for a card without its forms: the first date formatting sets up Intl,
      // tens of milliseconds, which a page that is already complete need not pay at start.
      function writable() {
        // Every zone's date is within a day of the UTC date: only a day near it needs Intl.
        if (day > utcDate(1)) return false;
        if (day <= utcDate(-1)) return true;
        return day <= localDate();
      }
      if (done !== null) place("done", doneHtml(done, true));
      else if ($("done") && !$("done").querySelector("form") && writable()) place("done", doneHtml(false, false));
      if (text !== null) place("reflection", reflectionHtml(text, true), "done");
      else if (!$("reflection") && writable()) place("reflection", reflectionHtml("", false), "done");
    }, noop);
  }

  /* Progress, cached, knows only what the server had: tick (or untick) the days whose Done
     or Undo waits in the outbox, and say that more is waiting (a reflection, the counts). */
  function overlayProgress() {
    var calendar = document.querySelector("table.calendar");
    var note = $("progress-pending");
    if (!calendar || !note || !outbox) return Promise.resolve();
    return outbox.all().then(function (entries) {
      var done = {};
      entries.forEach(function (entry) {
        var m = DAY_WRITE.exec(entry.url);
        if (m && m[2] !== "reflection") done[m[1]] = m[2] === "done";
      });
      Object.keys(done).forEach(function (day) {
        var link = calendar.querySelector('a[href="/day/' + day + '"]');
        if (link) markCell(link, done[day]);
      });
      note.hidden = entries.length === 0;
    }, noop);
  }

  function markCell(link, done) {
    var cell = link.parentElement;
    var tick = link.querySelector(".tick");
    cell.classList.toggle("done", done);
    if (done && !tick) {
      tick = document.createElement("span");
      tick.className = "tick";
      tick.setAttribute("aria-hidden", "true");
      tick.textContent = "\u2713";
      link.appendChild(tick);
    } else if (!done && tick) {
      tick.remove();
    }
    var label = link.getAttribute("aria-label").replace(/, practised/, "");
    link.setAttribute("aria-label", label.replace(/^([^,]+)/, "$1" + (done ? ", practised" : "")));
  }

  // Once nothing is waiting for this day, its "saved on this phone" notes are no longer true.
  function settleNotes() {
    var day = cardDay();
    if (!day || !outbox) return;
    outbox.all().then(function (entries) {
      var waiting = entries.some(function (e) {
        var m = DAY_WRITE.exec(e.url);
        return m && m[1] === day;
      });
      if (!waiting) document.querySelectorAll("#card .pending-note").forEach(function (n) { n.remove(); });
    }, noop);
  }

  /* ---------------- writes: through htmx, into the outbox when they cannot land ---------------- */

  function queueAndShow(kind, path, fields) {
    return outbox.add(path, fields).then(function () {
      refreshBadge();
      requestSync();
      if (navigator.onLine !== false) replaySoon();
      return new Response(optimisticHtml(kind, fields), {
        status: 200,
        headers: { "Content-Type": "text/html; charset=utf-8" }
      });
    });
  }

  function freshToken() {
    return fetch("/csrf-token", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("no token"); return r.json(); })
      .then(function (data) {
        var meta = document.querySelector('meta[name="csrf-token"]');
        if (meta) meta.content = data.token;
        document.querySelectorAll('input[name="csrf_token"]').forEach(function (i) { i.value = data.token; });
        outbox.rememberToken(data.token);
        return data.token;
      });
  }

  function afterWrite(path) {
    var m = DAY_WRITE.exec(path);
    tellWorker({ type: "REFRESH", urls: ["/", "/progress"].concat(m ? ["/day/" + m[1]] : []) });
  }

  // htmx calls this instead of window.fetch for outbox forms.
  function writeThrough(kind, url, init) {
    var path = new URL(url, location.href).pathname;
    var fields = {};
    new URLSearchParams(init.body).forEach(function (value, name) { fields[name] = value; });
    var send = function () {
      return fetch(url, init).then(function (response) {
        if (response.status === 429 || response.status >= 500) return queueAndShow(kind, path, fields);
        if (response.ok) afterWrite(path);
        return response;
      }, function () { return queueAndShow(kind, path, fields); });
    };
    return outbox.count().then(function (pending) {
      // Offline, or earlier writes still waiting: queue behind them so order is kept.
      if (pending > 0 || navigator.onLine === false) return queueAndShow(kind, path, fields);
      return send().then(function (response) {
        if (response.status !== 400) return response;
        // A token the session no longer knows (a page cached long ago): once, with a fresh one.
        return freshToken().then(function (token) {
          init.headers["X-CSRFToken"] = token;
          var body = new URLSearchParams(init.body);
          body.set("csrf_token", token);
          init.body = body;
          fields.csrf_token = token;
          return send();
        }, function () { return queueAndShow(kind, path, fields); });
      });
    }, function () {
      return fetch(url, init); // no IndexedDB (private mode in some browsers): plain htmx
    });
  }

  document.addEventListener("htmx:config:request", function (event) {
    var ctx = event.detail.ctx;
    var source = ctx.sourceElement;
    var form = source && source.closest ? source.closest("form[data-outbox]") : null;
    if (!form || !outbox) return;
    // Every tap is a new write with its own idempotency key; retries of it reuse the key.
    ctx.request.body.set("key", outbox.uuid());
    var kind = form.dataset.outbox;
    ctx.fetch = function (url, init) { return writeThrough(kind, url, init); };
  });

  // Any other htmx request that fails for want of a network must not leave the page broken.
  document.addEventListener("htmx:error", function (event) {
    var ctx = event.detail && event.detail.ctx;
    if (!ctx || ctx.response) return; // an answer came: the swap shows it
    refreshBadge();
    showNotice("That did not reach Closer: you seem to be offline. Try again when you are back online.");
  });

  var replayTimer = null;
  function replaySoon() {
    clearTimeout(replayTimer);
    replayTimer = setTimeout(replay, 50);
  }

  function replay() {
    if (!outbox || navigator.onLine === false) return Promise.resolve();
    return outbox.replay().then(function (summary) {
      if (summary.sent.length) {
        var days = summary.sent.map(function (u) { var m = DAY_WRITE.exec(u); return m ? "/day/" + m[1] : null; })
          .filter(Boolean);
        tellWorker({ type: "REFRESH", urls: ["/", "/progress"].concat(days) });
      }
      return summary;
    }, noop);
  }

  /* ---------------- install ---------------- */

  function standalone() {
    return (window.matchMedia && window.matchMedia("(display-mode: standalone)").matches) ||
      navigator.standalone === true;
  }

  function isIOS() {
    var ua = navigator.userAgent || "";
    return /iPhone|iPad|iPod/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1);
  }

  var DISMISS_KEY = "closer-install-dismissed";
  function dismissed() {
    try { return Number(localStorage.getItem(DISMISS_KEY) || 0) > Date.now() - 30 * 864e5; } catch (e) { return false; }
  }

  var installPrompt = null;
  function setupInstall() {
    var section = $("install");
    if (!section || standalone() || dismissed()) return;
    if (isIOS()) {
      $("install-ios").hidden = false;
      section.hidden = false;
    }
    $("install-dismiss").addEventListener("click", function () {
      section.hidden = true;
      try { localStorage.setItem(DISMISS_KEY, String(Date.now())); } catch (e) { /* private mode */ }
    });
    $("install-button").addEventListener("click", function () {
      if (!installPrompt) return;
      var prompt = installPrompt;
      installPrompt = null;
      prompt.prompt();
      prompt.userChoice.then(function () { section.hidden = true; }, noop);
    });
  }

  function offerInstall(event) {
    installPrompt = event;
    var section = $("install");
    if (!section || standalone() || dismissed()) return;
    $("install-prompt").hidden = false;
    section.hidden = false;
  }

  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault(); // our own button instead of the browser's mini-infobar
    offerInstall(event);
  });

  window.addEventListener("appinstalled", function () {
    installPrompt = null;
    var section = $("install");
    if (section) section.hidden = true;
  });

  /* ---------------- the worker: registration and updates ---------------- */

  var updateRequested = false;
  var waitingWorker = null;

  function offerUpdate(worker) {
    waitingWorker = worker;
    var banner = $("update-banner");
    if (banner) banner.hidden = false;
  }

  function setupWorker() {
    if (!sw) return;
    var hadController = Boolean(sw.controller);
    sw.register("/service-worker.js", { scope: "/", updateViaCache: "none" }).then(function (reg) {
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
    }).catch(noop);

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

    // The worker works out this page's today itself: no Intl set-up on this thread.
    if (navigator.onLine !== false) {
      tellWorker({ type: "VISITED", now: Date.now(), zone: document.body.dataset.zone || "" });
    }
  }

  /* ---------------- after "delete everything" ---------------- */

  /* The server has deleted the account. This phone must keep no copy either: cached pages
     show reflections, and a queued write would replay into a new account. Clear-Site-Data
     on the delete response has done this where the browser supports it; this is for the
     others. The next visit registers a fresh worker. */
  function forgetDevice() {
    // Each on its own: one that fails (a private mode without getRegistrations) must not
    // keep the others from running.
    function settled(promise) { return promise.catch(noop); }
    var jobs = [];
    if (self.indexedDB) {
      jobs.push(new Promise(function (resolve) {
        var request = indexedDB.deleteDatabase("closer");
        request.onsuccess = request.onerror = request.onblocked = resolve;
      }));
    }
    if (self.caches) {
      jobs.push(settled(caches.keys().then(function (names) {
        return Promise.all(names.filter(function (name) { return name.indexOf("closer-") === 0; })
          .map(function (name) { return caches.delete(name); }));
      })));
    }
    if (sw) {
      jobs.push(settled(sw.getRegistrations().then(function (regs) {
        return Promise.all(regs.map(function (reg) { return reg.unregister(); }));
      })));
    }
    return Promise.all(jobs).then(function () { document.documentElement.dataset.forgotten = ""; });
  }

  // "Start fresh" before the phone has forgotten would let the old outbox replay into the
  // new account: that tap waits for the clearing.
  function startFreshAfter(forgetting) {
    var link = $("start-fresh");
    if (!link) return;
    link.addEventListener("click", function (event) {
      if ("forgotten" in document.documentElement.dataset) return;
      event.preventDefault();
      forgetting.then(function () { location.href = link.href; });
    });
  }

  /* ---------------- start ---------------- */

  function start() {
    if (document.body.hasAttribute("data-forget-device")) {
      startFreshAfter(forgetDevice());
      return;
    }
    setupInstall();
    // This file loads after `load`; an offer made before then was kept by app.js.
    if (self.closerInstallPrompt) offerInstall(self.closerInstallPrompt);
    setupWorker();
    if (!outbox) return;
    if (csrfToken()) outbox.rememberToken(csrfToken()).catch(noop);
    outbox.onChange(function () {
      refreshBadge();
      settleNotes();
      overlayProgress();
      showNotices();
    });
    var notice = $("outbox-notice-close");
    if (notice) notice.addEventListener("click", function () { $("outbox-notice").hidden = true; });
    window.addEventListener("online", function () { refreshBadge(); replay(); });
    window.addEventListener("offline", refreshBadge);
    refreshBadge();
    showNotices();
    Promise.all([overlay(), overlayProgress()]).then(function () { return replay(); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
