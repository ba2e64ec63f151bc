// orchestrate ui: optional niceties; every page works without this script.
// Clicking a timeline bar or point highlights its events in the history table.
"use strict";
document.addEventListener("click", function (ev) {
  var target = ev.target;
  if (!(target instanceof Element)) { return; }
  var shape = target.closest("[data-pos]");
  if (!shape) { return; }
  document.querySelectorAll("tr.hl").forEach(function (row) { row.classList.remove("hl"); });
  shape.getAttribute("data-pos").split(" ").forEach(function (pos) {
    var row = document.getElementById("ev-" + pos);
    if (row) { row.classList.add("hl"); row.scrollIntoView({block: "nearest"}); }
  });
});
