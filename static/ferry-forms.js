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

  /* "Password rules while typing": the rule list (data-ferry-rules="<field id>") marks its length
     rule (data-ferry-min-length) as met; the server checks every rule again. */
  function rules() {
    var lists = document.querySelectorAll("[data-ferry-rules]");
    Array.prototype.forEach.call(lists, function (list) {
      var field = document.getElementById(list.getAttribute("data-ferry-rules"));
      var rule = list.querySelector("[data-ferry-min-length]");
      if (!field || !rule) { return; }
      var least = parseInt(rule.getAttribute("data-ferry-min-length"), 10);
      function update() { rule.classList.toggle("ferry-rule--met", field.value.length >= least); }
      field.addEventListener("input", update);
      update();
    });
  }

  function start() { init(); rules(); }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
