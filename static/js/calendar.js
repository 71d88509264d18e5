/* Progress offline: the cached page knows only what the server had. Lay the writes waiting in
   the outbox (static/js/outbox.js) over it, so that the page agrees with itself: tick (or
   untick) the days whose Done or Undo waits, say the headline again from the calendar, and
   show (or clear) the reflections that wait. offline.js runs it on start and on every outbox
   change. */
"use strict";

(function () {
  var C = self.Closer;
  var outbox = self.CloserOutbox;
  var WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
  var MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December"];
  var RECENT_DAYS = 7;

  function $(id) { return document.getElementById(id); }

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
    var label = link.getAttribute("aria-label").replace(", practised", "");
    var comma = label.indexOf(",");
    var date = comma < 0 ? label : label.slice(0, comma);
    link.setAttribute("aria-label", date + (done ? ", practised" : "") + label.slice(date.length));
  }

  // The server's words for the same counts (days.progress_sentence): one rule, said twice.
  function sentence(done, span) {
    if (done === 0) return "A fresh start today. Two minutes is plenty.";
    if (span === 1) return "Day one, done. A lovely start.";
    if (span < RECENT_DAYS) return "You practised " + done + " of your first " + span + " days.";
    return "You practised " + done + " of the last 7 days.";
  }

  // The headline from the calendar as it now stands: the days ticked in the recent window,
  // and the server's total moved by the days whose state the outbox changed.
  function sayHeadline(calendar) {
    var line = $("progress-sentence");
    var total = $("progress-total");
    if (!line || !total) return;
    var recent = calendar.querySelectorAll("td.done[data-recent]").length;
    line.textContent = sentence(recent, Number(line.dataset.span) || 1);
    var added = calendar.querySelectorAll("td.done:not([data-served])").length;
    var removed = calendar.querySelectorAll("td[data-served]:not(.done)").length;
    var days = (Number(total.dataset.total) || 0) + added - removed;
    total.textContent = days ? " " + days + " day" + (days === 1 ? "" : "s") + " in all." : "";
  }

  // "Thursday 26 November 2026" for "2026-11-26", as the server writes it.
  function longDate(day) {
    var d = new Date(day + "T12:00:00Z");
    return WEEKDAYS[d.getUTCDay()] + " " + d.getUTCDate() + " " + MONTHS[d.getUTCMonth()] + " " + d.getUTCFullYear();
  }

  function reflectionItem(day) {
    var item = document.createElement("li");
    item.dataset.day = day;
    var meta = document.createElement("p");
    meta.className = "meta";
    var link = document.createElement("a");
    link.href = C.dayUrl("day", day);
    var time = document.createElement("time");
    time.dateTime = day;
    time.textContent = longDate(day);
    link.appendChild(time);
    meta.appendChild(link);
    var text = document.createElement("p");
    text.className = "text";
    item.append(meta, text);
    return item;
  }

  // A waiting reflection replaces the day's shown one (or joins the list, newest first); a
  // waiting empty one clears it.
  function showReflection(list, day, text) {
    var item = list.querySelector('li[data-day="' + day + '"]');
    if (!text) {
      if (item) item.remove();
      return;
    }
    if (!item) {
      item = reflectionItem(day);
      var later = Array.prototype.find.call(list.children, function (li) { return li.dataset.day < day; });
      list.insertBefore(item, later || null);
    }
    item.querySelector(".text").textContent = text;
    if (!item.querySelector(".pending-note")) {
      var note = document.createElement("p");
      note.className = "pending-note";
      note.textContent = "Saved on this phone. It will sync when you are back online.";
      item.appendChild(note);
    }
  }

  function overlay() {
    var calendar = document.querySelector("table.calendar");
    var note = $("progress-pending");
    if (!calendar || !note || !outbox) return Promise.resolve();
    return outbox.all().then(function (entries) {
      var done = {};
      var reflections = {};
      entries.forEach(function (entry) {
        var write = C.dayWrite(entry.url);
        if (!write) return;
        if (write.kind === "reflection") reflections[write.day] = (entry.fields.text || "").trim();
        else done[write.day] = write.kind === "done";
      });
      Object.keys(done).forEach(function (day) {
        var link = calendar.querySelector('a[href="' + C.dayUrl("day", day) + '"]');
        if (link) markCell(link, done[day]);
      });
      if (Object.keys(done).length) sayHeadline(calendar);
      var list = $("reflection-list");
      if (list) {
        Object.keys(reflections).forEach(function (day) { showReflection(list, day, reflections[day]); });
        // Synced since: what it shows is now the server's too.
        list.querySelectorAll("li .pending-note").forEach(function (n) {
          if (!(n.parentElement.dataset.day in reflections)) n.remove();
        });
        var empty = $("no-reflections");
        if (empty) empty.hidden = list.children.length > 0;
      }
      note.hidden = entries.length === 0;
    }, C.noop);
  }

  self.CloserCalendar = { overlay: overlay };
})();
