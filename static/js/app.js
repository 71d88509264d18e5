/* Closer's first script, written inline into every page's <head> (assets.INLINE_SCRIPTS; the
   CSP allows it by its hash): CSRF for htmx, the reflection counter, and the loader of every
   other script. Plain JavaScript, no build step. Offline and push live in their own files. */
"use strict";

(function () {
  var root = document.documentElement;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // htmx 4 lets us add headers to every request it makes; Flask-WTF reads X-CSRFToken.
  document.addEventListener("htmx:config:request", function (event) {
    event.detail.ctx.request.headers["X-CSRFToken"] = csrfToken();
  });
  // An error shown for an earlier request (HX-Retarget #request-error) is old news now.
  document.addEventListener("htmx:before:request", function () {
    var box = document.getElementById("request-error");
    if (box) box.replaceChildren();
  });

  // "1,234 / 2,000", written out: toLocaleString's first call sets up ICU (25-90 ms on the
  // bench machine), which the first keystroke would wait for.
  function countText(length) {
    var text = length < 1000 ? String(length) : Math.floor(length / 1000) + "," + String(length % 1000).padStart(3, "0");
    return text + " / 2,000";
  }
  window.closerCountText = countText; // pwa.js fills its reflection template with it

  function updateCounter(textarea) {
    var out = document.getElementById(textarea.id.replace("-text", "-count"));
    if (out) out.value = countText(textarea.value.length);
  }
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!field.matches || !field.matches("textarea[maxlength]")) return;
    updateCounter(field);
    // "Saved" spoke of the text as it was; once it changes, it is no longer true.
    if (field.form) field.form.querySelectorAll(".saved").forEach(function (note) { note.remove(); });
  });

  // Chromium may offer installation before pwa.js has loaded: keep the offer for it.
  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault(); // our own button (pwa.js) instead of the browser's mini-infobar
    window.closerInstallPrompt = event;
  });
  window.addEventListener("appinstalled", function () { window.closerInstallPrompt = null; });

  /* A write tapped before htmx has loaded goes out as a plain POST, and the page is about to
     be replaced by the answer. htmx, arriving meanwhile, would send a second tap of the same
     form again under a fresh key, so the same write would be applied twice: until the page
     is replaced, such a form takes no more taps. (Capture phase: before htmx sees it.) */
  document.addEventListener("submit", function (event) {
    if (event.target.dataset && event.target.dataset.sentPlain) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!event.defaultPrevented && form.matches && form.matches("form[data-outbox]")) form.dataset.sentPlain = "1";
  });
  // Back to this page from the browser's cache: its forms may be used again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-sent-plain]").forEach(function (form) { delete form.dataset.sentPlain; });
  });

  /* First visit: tell the server the browser's zone, so "today" is the user's own date. The
     zone and today's date in it come from a Worker (static/js/zone.js): the page's main
     thread never pays for setting up Intl. */
  function reportTimeZone() {
    if (document.body.dataset.zoneState !== "unknown" || !zoneWorker || !window.Worker) return;
    var worker;
    try { worker = new Worker(zoneWorker); } catch (error) { return; } // the next visit tries again
    worker.onmessage = function (event) {
      worker.terminate();
      if (event.data && event.data.zone) sendTimeZone(event.data.zone, event.data.today);
    };
    worker.onerror = function () { worker.terminate(); }; // offline: try again next visit
    worker.postMessage(Date.now());
  }

  function sendTimeZone(zone, today) {
    var body = new URLSearchParams({ time_zone: zone, detected: "1" });
    fetch("/settings/timezone", {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" }
    }).then(function (response) {
      if (!response.ok) return;
      // Only the card can depend on the zone; reload it if the local date differs. This page
      // is then on its way out: "confirmed" is for a page that shows the user's own day.
      var card = document.getElementById("card");
      if (card && card.dataset.day && location.pathname === "/" && today && card.dataset.day !== today) {
        location.reload();
        return;
      }
      document.body.dataset.zoneState = "confirmed";
    }).catch(function () { /* offline: try again next visit */ });
  }

  /* Every other script (the offline outbox and layer, reminders, htmx) and the zone report
     start after `load` and the first paint: Lighthouse's LCP estimate, like a phone on a slow network, pays for
     every request started before the first paint, and until they run every write works as a
     plain form POST. They run in the listed order (async = false); htmx comes last, so the
     outbox is listening before htmx can send a write. Once all have run and htmx has wired
     the page, <html data-ready> says so (tests and benchmarks wait for it). */
  var own = document.currentScript ? document.currentScript.dataset : {};
  var later = (own.afterLoad || "").split(" ").filter(Boolean);
  var zoneWorker = own.zoneWorker;
  var htmxWired = new Promise(function (resolve) {
    document.addEventListener("htmx:after:process", function wired(event) {
      if (event.target !== document.body) return;
      document.removeEventListener("htmx:after:process", wired);
      resolve();
    });
  });

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.async = false;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  // Pages with nothing for htmx to do (the library, progress, about) skip it: less script to
  // parse on a slow phone, and no long task after the first paint.
  function usesHtmx() {
    return document.querySelector("[hx-get],[hx-post],[hx-put],[hx-patch],[hx-delete]") !== null;
  }

  function loadLater() {
    reportTimeZone();
    var withHtmx = usesHtmx();
    var scripts = withHtmx ? later : later.filter(function (src) { return src.indexOf("/vendor/htmx") < 0; });
    Promise.all(scripts.map(loadScript).concat(withHtmx ? [htmxWired] : [])).then(function () {
      root.dataset.ready = "true";
    }, function () { /* offline and not cached: the page keeps working without them */ });
  }

  /* `load` may come before the first paint (Lighthouse saw it do so): wait for the page's
     first contentful paint too, so that nothing (not even the zone report's worker) runs
     or downloads ahead of it. A frame alone is not enough: one may pass before the
     text is painted. A hidden page paints nothing and has nothing to protect. */
  function afterPaint() {
    var types = (window.PerformanceObserver && PerformanceObserver.supportedEntryTypes) || [];
    var start = function () { setTimeout(loadLater, 0); };
    if (document.visibilityState === "hidden") return loadLater();
    if (types.indexOf("paint") < 0) return requestAnimationFrame(start);
    if (performance.getEntriesByName("first-contentful-paint").length) return start();
    var observer = new PerformanceObserver(function () {
      observer.disconnect();
      start();
    });
    observer.observe({ type: "paint", buffered: true });
  }

  if (document.readyState === "complete") afterPaint();
  else window.addEventListener("load", afterPaint);
})();
