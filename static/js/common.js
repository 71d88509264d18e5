/* Helpers shared by every page script and the service worker (importScripts), written once.

   URLs: scripts write no paths of their own. The server builds them with url_for
   (blueprints/pwa.py, client_urls) and hands them over as <body data-urls='{...}'> on a page
   or as the URLS constant it prepends to the worker. A day's URLs are templates holding
   "__DAY__" (e.g. "/day/__DAY__/done"): dayUrl fills one in, dayWrite reads one back. */
"use strict";

(function (scope) {
  var DAY = "__DAY__";
  var WRITE_KINDS = ["done", "undo", "reflection"];
  var urls = null;

  function all() {
    if (urls) return urls;
    // The worker's prelude declares `const URLS`: a global name, not a property of `self`.
    if (typeof URLS === "object") urls = URLS;
    else if (scope.document && document.body) urls = JSON.parse(document.body.dataset.urls || "{}");
    return urls || {};
  }

  function url(name) {
    var found = all()[name];
    if (typeof found !== "string") throw new Error("no URL named " + name);
    return found;
  }

  // dayUrl("done", "2026-11-26") -> "/day/2026-11-26/done"
  function dayUrl(name, day) {
    return url(name).replace(DAY, day);
  }

  // A date as YYYY-MM-DD (what a day URL holds).
  function isDay(text) {
    return typeof text === "string" && /^\d{4}-\d{2}-\d{2}$/.test(text);
  }

  // The day in `path` if it is this day URL template filled in, else null.
  function dayIn(name, path) {
    var parts = url(name).split(DAY);
    var start = parts[0];
    var end = parts[1];
    if (path.indexOf(start) !== 0 || path.slice(path.length - end.length) !== end) return null;
    var day = path.slice(start.length, path.length - end.length);
    return isDay(day) ? day : null;
  }

  // { day, kind } for a write to a day ("done", "undo" or "reflection"), or null.
  function dayWrite(path) {
    for (var i = 0; i < WRITE_KINDS.length; i++) {
      var day = dayIn(WRITE_KINDS[i], path);
      if (day) return { day: day, kind: WRITE_KINDS[i] };
    }
    return null;
  }

  // The token the page was rendered with (only a known visitor's page carries one).
  function csrfToken() {
    var meta = scope.document && document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // Run fn once the page is parsed: at once for a script loaded after that (boot.js).
  function whenParsed(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  scope.Closer = {
    url: url,
    dayUrl: dayUrl,
    dayIn: dayIn,
    dayWrite: dayWrite,
    isDay: isDay,
    csrfToken: csrfToken,
    whenParsed: whenParsed,
    noop: function () {}
  };
})(self);
