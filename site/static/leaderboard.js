/* openscore leaderboard: sortable columns and row filters, as progressive enhancement.
 * The server-rendered table is complete without this file (ranked by the default rubric total);
 * this only reorders and hides rows. Written for openscore, no dependencies, MIT-compatible. */
(function () {
  "use strict";
  var table = document.getElementById("leaderboard");
  if (!table || !table.tHead || !table.tBodies.length) { return; }
  var tbody = table.tBodies[0];
  var headers = table.tHead.rows[0].cells;
  var rows = Array.prototype.slice.call(tbody.rows);

  /* grade cells carry no data-sort (page weight): their class says the grade */
  var GRADE_RANK = { "g-open": 4, "g-partial": 3, "g-closed": 2, "g-unknown": 1, "g-na": 0, "g-missing": -1 };

  function sortKey(cell, type) {
    var raw = cell.getAttribute("data-sort");
    if (raw === null && cell.className in GRADE_RANK) { raw = String(GRADE_RANK[cell.className]); }
    if (raw === null) { raw = cell.textContent.trim(); }
    if (type === "number") {
      var number = parseFloat(raw);
      return isNaN(number) ? -Infinity : number;
    }
    return raw.toLowerCase();
  }

  function sortBy(index, direction) {
    var type = headers[index].getAttribute("data-sort-type");
    var keyed = Array.prototype.slice.call(tbody.rows).map(function (row, position) {
      return { row: row, key: sortKey(row.cells[index], type), position: position };
    });
    keyed.sort(function (a, b) {
      if (a.key < b.key) { return -direction; }
      if (a.key > b.key) { return direction; }
      return a.position - b.position;
    });
    keyed.forEach(function (item) { tbody.appendChild(item.row); });
    for (var h = 0; h < headers.length; h++) { headers[h].removeAttribute("aria-sort"); }
    headers[index].setAttribute("aria-sort", direction > 0 ? "ascending" : "descending");
  }

  Array.prototype.forEach.call(headers, function (th, index) {
    var type = th.getAttribute("data-sort-type");
    if (!type) { return; }
    var button = document.createElement("button");
    button.type = "button";
    while (th.firstChild) { button.appendChild(th.firstChild); }
    th.appendChild(button);
    button.addEventListener("click", function () {
      var current = th.getAttribute("aria-sort");
      var direction;
      if (current === "ascending") { direction = -1; }
      else if (current === "descending") { direction = 1; }
      else { direction = type === "number" ? -1 : 1; }  /* numbers: best first; text: A to Z */
      sortBy(index, direction);
    });
  });

  var form = document.getElementById("filters");
  if (!form) { return; }
  var names = ["q", "family", "licence", "verdict", "mof", "osaid"];
  var fields = {
    q: document.getElementById("filter-q"),
    family: document.getElementById("filter-family"),
    licence: document.getElementById("filter-licence"),
    osaid: document.getElementById("filter-osaid"),
    mof: document.getElementById("filter-mof"),
    verdict: document.getElementById("filter-verdict"),
    open: document.getElementById("filter-open")
  };
  var count = document.getElementById("filter-count");
  var permalink = document.getElementById("permalink");

  var columns = {};  /* filter name -> column index, from the header (the rows carry no copies: page weight) */
  Array.prototype.forEach.call(headers, function (th, index) {
    if (th.getAttribute("data-f")) { columns[th.getAttribute("data-f")] = index; }
  });

  function field(row, name) {
    var cell = row.cells[columns[name]];
    var part = cell && (cell.querySelector(".verdict") || cell);
    return part ? part.textContent.trim() : "";
  }

  var indexed = false;
  function index() {  /* what the search box looks through: names, licence, provenance and bases; built on first use */
    if (indexed) { return; }
    rows.forEach(function (row) {
      row.searchText = Array.prototype.map.call(row.querySelectorAll("th.model, td.licence, td.prov"), function (cell) {
        return cell.textContent;
      }).join(" ").toLowerCase();
    });
    indexed = true;
  }

  function apply() {
    var terms = fields.q.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    if (terms.length) { index(); }
    var shown = 0;
    rows.forEach(function (row) {
      var text = row.searchText;
      var visible = terms.every(function (term) { return text.indexOf(term) !== -1; }) &&
        (!fields.family.value || row.getAttribute("data-family") === fields.family.value) &&
        (!fields.licence.value || row.getAttribute("data-licence") === fields.licence.value) &&
        (!fields.osaid.value || field(row, "osaid") === fields.osaid.value) &&
        (!fields.mof.value || field(row, "mof") === fields.mof.value) &&
        (!fields.verdict.value || field(row, "verdict") === fields.verdict.value) &&
        (!fields.open.checked || row.getAttribute("data-open") === "yes");
      row.hidden = !visible;
      if (visible) { shown += 1; }
    });
    count.textContent = shown + " of " + rows.length + " models";
    var params = new URLSearchParams();
    names.forEach(function (name) {
      if (fields[name].value) { params.set(name, fields[name].value); }
    });
    if (fields.open.checked) { params.set("open", "1"); }
    var query = params.toString();
    history.replaceState(null, "", query ? "?" + query : location.pathname);
    permalink.href = query ? "index.html?" + query : "index.html";
  }

  var initial = new URLSearchParams(location.search);
  names.forEach(function (name) {
    if (initial.has(name)) { fields[name].value = initial.get(name); }
  });
  fields.open.checked = initial.get("open") === "1";
  form.hidden = false;
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
  if (initial.toString()) { apply(); }  /* an unfiltered page needs no pass over its rows */
  else { count.textContent = rows.length + " of " + rows.length + " models"; }
}());
