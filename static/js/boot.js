/* The page's one early script (deferred): it starts the page's other scripts, one bundle of
   them in order (assets.py), once the page has painted, and sets <html data-ready> when they
   have run and htmx, where the bundle ends with it (data-htmx), has wired the page.
   Why after the paint: Lighthouse's LCP estimate, like a phone on slow 4G, pays for every
   request started before the first paint. Side by side on the bench machine (issue 13),
   the same scripts with plain `defer` gave Lighthouse LCPs of 1.2-2.8 s (median per page
   1.5-1.9 s, target 1.5 s) against 0.9-1.6 s started from here. Until they run, every write
   is a plain form POST and 303, which works the same, only with a page load. */
"use strict";

(function () {
  var own = document.currentScript.dataset;

  // Chromium may offer installation before install.js has loaded: keep the offer for it.
  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault(); // our own button (install.js) instead of the browser's mini-infobar
    window.closerInstallPrompt = event;
  });

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  // Listening before the bundle runs: htmx, at its end, wires the page as it runs.
  function htmxWired() {
    if (own.htmx === undefined) return null;
    return new Promise(function (resolve) {
      document.addEventListener("htmx:after:process", function wired(event) {
        if (event.target === document.body) resolve();
      });
    });
  }

  function loadAll() {
    var wired = htmxWired();
    Promise.all([loadScript(own.bundle)].concat(wired ? [wired] : [])).then(function () {
      document.documentElement.dataset.ready = "true";
    }, function () { /* offline and not cached: the page keeps working without them */ });
  }

  /* `load` may come before the first paint: wait for the first contentful paint too (a frame
     alone is not enough). A hidden page paints nothing and has nothing to protect. */
  function afterPaint() {
    var types = (window.PerformanceObserver && PerformanceObserver.supportedEntryTypes) || [];
    var started = false;
    var start = function () {
      if (started) return;
      started = true;
      setTimeout(loadAll, 0);
    };
    if (document.visibilityState === "hidden") return loadAll();
    if (types.indexOf("paint") < 0) return requestAnimationFrame(start);
    if (performance.getEntriesByName("first-contentful-paint").length) return start();
    var observer = new PerformanceObserver(function () {
      observer.disconnect();
      start();
    });
    observer.observe({ type: "paint", buffered: true });
    // Firefox records no first-contentful-paint for a page reloaded with its scroll position
    // restored: never wait for it longer than a second (the Firefox smoke test reloads so).
    setTimeout(function () {
      observer.disconnect();
      start();
    }, 1000);
  }

  if (document.readyState === "complete") afterPaint();
  else window.addEventListener("load", afterPaint);
})();
