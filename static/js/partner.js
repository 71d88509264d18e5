/* The partner's parts of a day page offline, loaded only while linked (after card.js): a
   thank-you, the "Share with <name>" switch and closing a thank-you note are writes like
   Done, through card.js's outbox path (data-outbox="thanks|share|seen"). What each shows
   while it waits is drawn here: at once when it is queued, and again over the cached page
   after a reload while offline (where the form for that URL is). A waiting part carries a
   [data-waiting] note, taken away once nothing for its form waits any more. */
"use strict";

(function () {
  var C = self.Closer;
  var outbox = self.CloserOutbox;
  var card = self.CloserCard;
  if (!outbox || !card) return;

  var shows = card.shows;
  // The inert <template>s the server renders beside each form, filled with fresh keys.
  shows.thanks = function () { return card.fromTemplate("offline-thanks"); };
  shows.share = function (fields) { return card.fromTemplate("offline-share-" + (fields.shared === "1" ? "on" : "off")); };
  shows.seen = function () { return ""; }; // the note goes at once

  function pathOf(form) {
    return new URL(form.action, location.href).pathname;
  }

  // The live form (not one inside a <template>) that posts to `path`, if it is a partner's.
  function formFor(path) {
    var forms = document.querySelectorAll("form[data-outbox]");
    for (var i = 0; i < forms.length; i++) {
      if (shows[forms[i].dataset.outbox] && pathOf(forms[i]) === path) return forms[i];
    }
    return null;
  }

  // As htmx would swap a response: the form's hx-target, replaced by `html` (maybe nothing).
  function swap(form, html) {
    var target = document.querySelector(form.getAttribute("hx-target"));
    if (!target) return;
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var nodes = Array.prototype.slice.call(holder.children);
    target.replaceWith.apply(target, nodes);
    if (self.htmx) nodes.forEach(function (node) { self.htmx.process(node); });
  }

  function overlay() {
    return outbox.all().then(function (entries) {
      entries.forEach(function (entry) {
        var form = formFor(entry.url);
        if (form) swap(form, shows[form.dataset.outbox](entry.fields));
      });
    }, C.noop);
  }

  function settle() {
    outbox.all().then(function (entries) {
      var waiting = entries.map(function (entry) { return entry.url; });
      document.querySelectorAll("[data-waiting]").forEach(function (note) {
        var form = note.closest("form") || note.parentElement.querySelector("form");
        if (!form || waiting.indexOf(pathOf(form)) < 0) note.remove();
      });
    }, C.noop);
  }

  outbox.onChange(settle);
  C.whenParsed(overlay);
})();
