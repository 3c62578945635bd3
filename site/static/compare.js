/* openscore compare page: pick up to four models; the choice lives in the address (?m=a&m=b).
 * Without this file the page shows every model side by side. No dependencies. */
(function () {
  "use strict";
  var form = document.getElementById("compare-form");
  var table = document.getElementById("compare");
  if (!form || !table) { return; }
  var selects = form.querySelectorAll("select");
  var known = {};
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    var id = th.getAttribute("data-model");
    if (id) { known[id] = true; }
  });
  var chosen = new URLSearchParams(location.search).getAll("m").filter(function (id, index, all) {
    return known[id] === true && all.indexOf(id) === index;
  }).slice(0, selects.length);
  chosen.forEach(function (id, index) { selects[index].value = id; });
  if (chosen.length) {
    Array.prototype.forEach.call(table.querySelectorAll("[data-model]"), function (cell) {
      cell.hidden = chosen.indexOf(cell.getAttribute("data-model")) === -1;
    });
  }
  var note = document.getElementById("compare-note");
  if (note) {
    note.textContent = chosen.length
      ? "Comparing " + chosen.length + " of " + Object.keys(known).length + " models."
      : "Pick up to " + selects.length + " models; until then every model is shown.";
  }
  form.hidden = false;
}());
