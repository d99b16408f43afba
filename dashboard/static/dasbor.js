// The leader's map: complaints or emergencies per kecamatan or desa over the page's period, on
// the regency's boundaries (Leaflet and GeoJSON served by SIAGA itself; no tile server, no CDN),
// with its legend: the class breaks in words beside each colour. Clicking an area opens the
// drill-down list of what it counts.
(function () {
  "use strict";
  var NONE = "#f1f4f7";
  // viridis, light to dark: told apart with the common colour-vision deficiencies and in grey
  var STEPS = ["#fde725", "#7ad151", "#22a884", "#2a788e", "#414487"];
  var GEO = {kecamatan: "/geo/kecamatan_from_desa.geojson", desa: "/geo/desa.geojson"};
  var WORDS = {pengaduan: "pengaduan", kedaruratan: "kedaruratan"};
  var LEVEL_WORDS = {kecamatan: "kecamatan", desa: "desa/kelurahan"};
  var RINCIAN = {pengaduan: "/dasbor/rincian/pengaduan", kedaruratan: "/dasbor/rincian/kedaruratan"};

  // Class breaks: up to five classes of whole numbers, each [from, to], covering 1..max.
  function classes(max) {
    var n = Math.min(STEPS.length, max), out = [], from = 1;
    for (var i = 1; i <= n; i++) {
      var to = i === n ? max : Math.max(from, Math.round(max * i / n));
      if (to >= from) { out.push({from: from, to: to, fill: STEPS[out.length]}); from = to + 1; }
    }
    return out;
  }
  function fillOf(v, cls) {
    if (!v) { return NONE; }
    for (var i = 0; i < cls.length; i++) { if (v <= cls[i].to) { return cls[i].fill; } }
    return cls.length ? cls[cls.length - 1].fill : NONE;
  }
  function entry(list, fill, text) {
    var li = document.createElement("li");
    var swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = fill;
    li.appendChild(swatch);
    li.appendChild(document.createTextNode(text));
    list.appendChild(li);
  }
  function legend(cls, measure, level) {
    var box = document.getElementById("peta-legenda");
    var old = document.getElementById("peta-legenda-daftar");
    if (old) { old.parentNode.removeChild(old); }
    var note = document.getElementById("peta-memuat");
    if (note) { note.parentNode.removeChild(note); }
    document.getElementById("peta-legenda-judul").textContent =
      "Jumlah " + WORDS[measure] + " per " + LEVEL_WORDS[level];
    var list = document.createElement("ul");
    list.id = "peta-legenda-daftar";
    entry(list, NONE, "Tidak ada " + WORDS[measure]);
    cls.forEach(function (c) {
      entry(list, c.fill, (c.from === c.to ? c.from : c.from + "–" + c.to) + " " + WORDS[measure]);
    });
    box.appendChild(list);
  }
  function chosen(name) {
    var el = document.querySelector('input[name="' + name + '"]:checked');
    return el ? el.value : null;
  }
  function start() {
    var el = document.getElementById("peta-kecamatan");
    if (!el || typeof L === "undefined") { return; }
    var map = L.map(el, {attributionControl: false});
    var layer = null, cache = {}, fitted = false;
    function load(url) {
      if (!cache[url]) {
        cache[url] = fetch(url, {credentials: "same-origin"}).then(function (r) {
          if (!r.ok) { throw new Error(r.status); }
          return r.json();
        });
      }
      return cache[url];
    }
    function draw() {
      var level = chosen("peta-tingkat") || "kecamatan", measure = chosen("peta-ukuran") || "pengaduan";
      var src = el.dataset.src + "&tingkat=" + level;
      return Promise.all([load(src), load(GEO[level])]).then(function (got) {
        var data = got[0], geo = got[1], max = 0;
        Object.keys(data).forEach(function (k) { max = Math.max(max, data[k][measure] || 0); });
        var cls = classes(max);
        if (layer) { map.removeLayer(layer); }
        layer = L.geoJSON(geo, {
          style: function (f) {
            var d = data[f.properties.kode] || {};
            return {weight: 1, color: "#0b3d5c", fillOpacity: 0.85, fillColor: fillOf(d[measure], cls)};
          },
          onEachFeature: function (f, l) {
            var d = data[f.properties.kode] || {pengaduan: 0, kedaruratan: 0};
            var box = document.createElement("div");
            var title = document.createElement("b");
            title.textContent = f.properties.nama;
            box.appendChild(title);
            box.appendChild(document.createElement("br"));
            box.appendChild(document.createTextNode(
              "Pengaduan " + (d.pengaduan || 0) + ", kedaruratan " + (d.kedaruratan || 0)));
            l.bindTooltip(box);
            l.on("click", function () {
              var q = new URLSearchParams({dari: el.dataset.dari, sampai: el.dataset.sampai});
              q.set(level, f.properties.kode);
              window.location.href = RINCIAN[measure] + "?" + q.toString();
            });
          }
        }).addTo(map);
        if (!fitted) { map.fitBounds(layer.getBounds()); fitted = true; }
        legend(cls, measure, level);
        el.dataset.digambar = level + "-" + measure;
      });
    }
    document.querySelectorAll("#peta-pilihan input").forEach(function (input) {
      input.addEventListener("change", function () { draw(); });
    });
    draw().catch(function () {
      el.textContent = "Peta tidak dapat dimuat.";
      var box = document.getElementById("peta-legenda");
      if (box) { box.hidden = true; }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
