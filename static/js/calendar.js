/* Progress offline: the cached calendar knows only what the server had. Tick (or untick) the
   days whose Done or Undo waits in the outbox (static/js/outbox.js), and say that more is
   waiting (a reflection, the counts). offline.js runs it on start and on every outbox change. */
"use strict";

(function () {
  var C = self.Closer;
  var outbox = self.CloserOutbox;

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

  function overlay() {
    var calendar = document.querySelector("table.calendar");
    var note = document.getElementById("progress-pending");
    if (!calendar || !note || !outbox) return Promise.resolve();
    return outbox.all().then(function (entries) {
      var done = {};
      entries.forEach(function (entry) {
        var write = C.dayWrite(entry.url);
        if (write && write.kind !== "reflection") done[write.day] = write.kind === "done";
      });
      Object.keys(done).forEach(function (day) {
        var link = calendar.querySelector('a[href="' + C.dayUrl("day", day) + '"]');
        if (link) markCell(link, done[day]);
      });
      note.hidden = entries.length === 0;
    }, C.noop);
  }

  self.CloserCalendar = { overlay: overlay };
})();
