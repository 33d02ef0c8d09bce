// The journey diagram's interactions (the page works without them): pointing at a step
// highlights the arrows that leave and reach it; choosing a step opens its form below.
(function () {
  "use strict";
  document.querySelectorAll("svg.journey-diagram").forEach(function (svg) {
    var edges = svg.querySelectorAll("g.edge");
    svg.querySelectorAll("g.step").forEach(function (step) {
      var name = step.getAttribute("data-step");
      function mark(on) {
        step.classList.toggle("aj-hover", on);
        edges.forEach(function (edge) {
          if (edge.getAttribute("data-source") === name || edge.getAttribute("data-target") === name) {
            edge.classList.toggle("aj-hover", on);
          }
        });
      }
      step.addEventListener("mouseenter", function () { mark(true); });
      step.addEventListener("mouseleave", function () { mark(false); });
      step.addEventListener("click", function () {
        var id = "step-" + name.replace(/[^A-Za-z0-9_-]/g, "-");
        var details = document.getElementById(id);
        if (details) { details.open = true; details.scrollIntoView({ block: "start" }); }
      });
    });
  });
})();
