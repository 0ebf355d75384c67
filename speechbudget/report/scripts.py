"""The report's small inline JavaScript (vanilla, offline, no library): every `table.sortable`
sorts on a header click and gets a filter box when it has 8 rows or more; a checkbox
`input.only-differ` (data-table = a table id) shows only the rows marked data-differ="1"."""

TABLE_JS = """
function sbRefresh(t) {
  var only = t.dataset.onlyDiffer === '1';
  Array.prototype.forEach.call(t.tBodies[0].rows, function (r) {
    var hide = r.dataset.nomatch === '1' || (only && r.dataset.differ === '0');
    r.style.display = hide ? 'none' : '';
  });
}
document.querySelectorAll('table.sortable').forEach(function (t) {
  var head = t.tHead.rows[0].cells, body = t.tBodies[0];
  Array.prototype.forEach.call(head, function (th, i) {
    th.style.cursor = 'pointer'; th.title = 'sort';
    th.addEventListener('click', function () {
      var asc = th.dataset.sort !== 'asc'; th.dataset.sort = asc ? 'asc' : 'desc';
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[i].textContent, y = b.cells[i].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  if (body.rows.length < 8) return;   // a filter box only where there is something to filter
  var box = document.createElement('input');
  box.type = 'search'; box.placeholder = 'filter rows'; box.className = 'filter';
  box.addEventListener('input', function () {
    var q = box.value.toLowerCase();
    Array.prototype.forEach.call(body.rows, function (r) {
      r.dataset.nomatch = r.textContent.toLowerCase().indexOf(q) >= 0 ? '0' : '1';
    });
    sbRefresh(t);
  });
  t.parentNode.insertBefore(box, t);
});
document.querySelectorAll('input.only-differ').forEach(function (cb) {
  var t = document.getElementById(cb.dataset.table);
  if (!t) return;
  cb.addEventListener('change', function () {
    t.dataset.onlyDiffer = cb.checked ? '1' : '0'; sbRefresh(t);
  });
});
"""
