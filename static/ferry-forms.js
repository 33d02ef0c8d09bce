/* Progressive enhancement of Ferry's forms; every form works the same without it.
   "Show password": a field rendered with reveal=True is followed by a hidden toggle button
   (data-ferry-reveal, aria-controls="<field id>"); this script shows it and switches the field
   between type="password" and type="text" (aria-pressed tells which). Before the form is sent
   the field is masked again, so the browser's password manager sees a password field.
   A static file: the CSP allows no inline script. */
(function () {
  "use strict";

  function init() {
    var toggles = document.querySelectorAll("button[data-ferry-reveal]");
    Array.prototype.forEach.call(toggles, function (button) {
      var field = document.getElementById(button.getAttribute("aria-controls"));
      if (!field) { return; }
      button.hidden = false;
      function show(visible) {
        field.type = visible ? "text" : "password";
        button.setAttribute("aria-pressed", visible ? "true" : "false");
      }
      button.addEventListener("click", function () { show(field.type === "password"); });
      if (field.form) {
        field.form.addEventListener("submit", function () { show(false); });
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
