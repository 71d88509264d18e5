/* After "delete everything" (the deleted page only). The server has deleted the account. This
   phone must keep no copy either: cached pages show reflections, and a queued write would
   replay into a new account. Clear-Site-Data on the delete response has done this where the
   browser supports it; this is for the others. The next visit registers a fresh worker. */
"use strict";

(function () {
  var noop = self.Closer.noop;

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
    if ("serviceWorker" in navigator) {
      jobs.push(settled(navigator.serviceWorker.getRegistrations().then(function (regs) {
        return Promise.all(regs.map(function (reg) { return reg.unregister(); }));
      })));
    }
    return Promise.all(jobs).then(function () { document.documentElement.dataset.forgotten = ""; });
  }

  // "Start fresh" before the phone has forgotten would let the old outbox replay into the
  // new account: that tap waits for the clearing.
  function startFreshAfter(forgetting) {
    var link = document.getElementById("start-fresh");
    if (!link) return;
    link.addEventListener("click", function (event) {
      if ("forgotten" in document.documentElement.dataset) return;
      event.preventDefault();
      forgetting.then(function () { location.href = link.href; });
    });
  }

  self.Closer.whenParsed(function () {
    if (document.body.hasAttribute("data-forget-device")) startFreshAfter(forgetDevice());
  });
})();
