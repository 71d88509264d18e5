/* The install offer, on every page: our own "Install app" button (where the page has the
   install panel) instead of the browser's mini-infobar, and the steps for iPhone and iPad,
   which offer no prompt. Dismissed, the panel stays away for 30 days. */
"use strict";

(function () {
  var DISMISS_KEY = "closer-install-dismissed";
  var installPrompt = null;

  function $(id) { return document.getElementById(id); }

  function standalone() {
    return (window.matchMedia && window.matchMedia("(display-mode: standalone)").matches) ||
      navigator.standalone === true;
  }

  function isIOS() {
    var ua = navigator.userAgent || "";
    return /iPhone|iPad|iPod/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1);
  }

  function dismissed() {
    try { return Number(localStorage.getItem(DISMISS_KEY) || 0) > Date.now() - 30 * 864e5; } catch (e) { return false; }
  }

  // One secondary offer at a time: while this one shows, the reminder offer on the today page
  // waits (static/css hides [data-offer] under <body data-offering="install">).
  function show(section) {
    section.hidden = false;
    document.body.dataset.offering = "install";
  }

  function hide(section) {
    section.hidden = true;
    delete document.body.dataset.offering;
  }

  function offered() {
    return $("install") && !standalone() && !dismissed();
  }

  function setup() {
    var section = $("install");
    if (!offered()) return;
    if (isIOS()) {
      $("install-ios").hidden = false;
      show(section);
    }
    $("install-dismiss").addEventListener("click", function () {
      hide(section);
      try { localStorage.setItem(DISMISS_KEY, String(Date.now())); } catch (e) { /* private mode */ }
    });
    $("install-button").addEventListener("click", function () {
      if (!installPrompt) return;
      var prompt = installPrompt;
      installPrompt = null;
      prompt.prompt();
      prompt.userChoice.then(function () { hide(section); }, self.Closer.noop);
    });
  }

  function offer(event) {
    installPrompt = event;
    if (!offered()) return;
    $("install-prompt").hidden = false;
    show($("install"));
  }

  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault(); // our own button instead of the browser's mini-infobar
    offer(event);
  });

  window.addEventListener("appinstalled", function () {
    installPrompt = window.closerInstallPrompt = null;
    var section = $("install");
    if (section) hide(section);
  });

  self.Closer.whenParsed(function () {
    setup();
    // An offer made before this file had loaded was kept by boot.js.
    if (window.closerInstallPrompt) offer(window.closerInstallPrompt);
  });
})();
