/* The day card offline, on day pages. Writes (the forms marked data-outbox="done|undo|reflect",
   and the partner's kinds that partner.js adds to `shows`) go through htmx as usual, with a
   fresh UUID as their idempotency key. If the server cannot be reached (offline, a timeout,
   5xx, 429), or earlier writes are still waiting, the write joins the outbox
   (static/js/outbox.js) and the card shows its result at once, rendered from the inert
   <template>s on the page. On a reload while offline the outbox's pending writes for the
   card's day are laid over the (cached) card again. */
"use strict";

(function () {
  var C = self.Closer;
  var outbox = self.CloserOutbox;
  var noop = C.noop;

  function $(id) { return document.getElementById(id); }

  function cardDay() {
    var card = $("card");
    return card ? card.dataset.day : null;
  }

  // The user's date: in the zone from Settings once confirmed (<body data-zone>), so near
  // midnight the page and the server agree on "today" wherever the phone's clock is set.
  function localDate() {
    var options = { year: "numeric", month: "2-digit", day: "2-digit" };
    var format;
    try {
      format = new Intl.DateTimeFormat("en-CA", Object.assign({ timeZone: document.body.dataset.zone || undefined }, options));
    } catch (error) {
      format = new Intl.DateTimeFormat("en-CA", options); // a zone this browser does not know
    }
    var parts = {};
    format.formatToParts(new Date()).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day;
  }

  function utcDate(daysFromNow) {
    return new Date(Date.now() + daysFromNow * 86400000).toISOString().slice(0, 10);
  }

  /* ---------------- rendering the card from its templates ---------------- */

  function fromTemplate(id, fill) {
    var tpl = $(id);
    if (!tpl) return null;
    var fragment = tpl.content.cloneNode(true);
    fragment.querySelectorAll('input[name="key"]').forEach(function (input) { input.value = outbox.uuid(); });
    fragment.querySelectorAll('input[name="csrf_token"]').forEach(function (input) {
      if (C.csrfToken()) input.value = C.csrfToken();
    });
    if (fill) fill(fragment);
    var holder = document.createElement("div");
    holder.appendChild(fragment);
    return holder.innerHTML.trim();
  }

  function withoutPendingNotes(fragment) {
    fragment.querySelectorAll(".pending-note").forEach(function (n) { n.remove(); });
  }

  function doneHtml(done, pending) {
    return fromTemplate(done ? "offline-done" : "offline-undone", pending ? null : withoutPendingNotes);
  }

  function reflectionHtml(text, pending) {
    return fromTemplate("offline-reflection", function (fragment) {
      fragment.querySelector("textarea").textContent = text;
      fragment.querySelector("output").textContent = C.countText(text);
      if (!pending) withoutPendingNotes(fragment);
    });
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

  // The pending writes for `day`, in order: { kind, text } each.
  function pendingFor(day) {
    return outbox.all().then(function (entries) {
      return entries.map(function (entry) {
        var write = C.dayWrite(entry.url);
        return write && write.day === day ? { kind: write.kind, text: entry.fields.text || "" } : null;
      }).filter(Boolean);
    });
  }

  /* Lay the outbox's pending writes for this card's day over the card: after a reload while
     offline the (cached) page still shows what the user did. A card cached before its day
     had come gets its Done button and reflection field once the device's date reaches it. */
  function overlay() {
    var day = cardDay();
    if (!day || !outbox) return Promise.resolve();
    return pendingFor(day).then(function (writes) {
      var done = null;
      var text = null;
      writes.forEach(function (write) {
        if (write.kind === "reflection") text = write.text;
        else done = write.kind === "done";
      });
      // Asked only for a card without its forms: the first date formatting sets up Intl,
      // which a page that is already complete need not pay for at start.
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

  // Once nothing is waiting for this day, its "saved on this phone" notes are no longer true.
  function settleNotes() {
    var day = cardDay();
    if (!day || !outbox) return;
    pendingFor(day).then(function (writes) {
      if (!writes.length) document.querySelectorAll("#card .pending-note").forEach(function (n) { n.remove(); });
    }, noop);
  }

  /* ---------------- writes: through htmx, into the outbox when they cannot land ---------------- */

  function queueAndShow(kind, path, fields) {
    var offline = self.CloserOffline; // offline.js, loaded after this file
    return outbox.add(path, fields).then(function () {
      offline.refreshBadge();
      offline.requestSync();
      if (navigator.onLine !== false) offline.replaySoon();
      var html = shows[kind] ? shows[kind](fields)
        : kind === "reflect" ? reflectionHtml(fields.text || "", true) : doneHtml(kind === "done", true);
      return new Response(html, { status: 200, headers: { "Content-Type": "text/html; charset=utf-8" } });
    });
  }

  function freshToken() {
    return fetch(C.url("csrf"), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("no token"); return r.json(); })
      .then(function (data) {
        var meta = document.querySelector('meta[name="csrf-token"]');
        if (meta) meta.content = data.token;
        document.querySelectorAll('input[name="csrf_token"]').forEach(function (i) { i.value = data.token; });
        outbox.rememberToken(data.token);
        return data.token;
      });
  }

  // htmx calls this instead of window.fetch for outbox forms.
  function writeThrough(kind, url, init) {
    var path = new URL(url, location.href).pathname;
    var fields = {};
    new URLSearchParams(init.body).forEach(function (value, name) { fields[name] = value; });
    var send = function () {
      return fetch(url, init).then(function (response) {
        if (response.status === 429 || response.status >= 500) return queueAndShow(kind, path, fields);
        if (response.ok) self.CloserOffline.refreshAfter([path]);
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

  // What a waiting write of another kind shows, by kind (partner.js adds the partner's).
  var shows = {};

  self.CloserCard = { overlay: overlay, settleNotes: settleNotes, shows: shows, fromTemplate: fromTemplate };
})();
