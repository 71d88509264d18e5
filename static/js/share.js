/* The invite page's link (together/invite.html): "Share link" through the Web Share API where
   the browser has it, "Copy link" always; without either, the field is selected for a copy.
   Only Together's pages load it (assets.BUNDLES), so Today's first visit carries none of it. */
"use strict";

(function () {
  var C = self.Closer;

  function linkOf(button, attribute) {
    return document.getElementById(button.getAttribute(attribute));
  }
  C.whenParsed(function () {
    if (!navigator.share) return;
    document.querySelectorAll("[data-share]").forEach(function (button) { button.hidden = false; });
  });
  document.addEventListener("click", function (event) {
    var share = event.target.closest("[data-share]");
    var copy = event.target.closest("[data-copy]");
    if (share) {
      navigator.share({ url: linkOf(share, "data-share").value }).catch(C.noop); // cancelled
    } else if (copy) {
      var field = linkOf(copy, "data-copy");
      var said = document.querySelector('[data-copied="' + field.id + '"]');
      var copied = navigator.clipboard ? navigator.clipboard.writeText(field.value) : Promise.reject();
      copied.then(function () {
        if (said) said.textContent = "Copied.";
      }, function () {
        field.select(); // the person copies it themselves
      });
    }
  });
})();
