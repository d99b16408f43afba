// The leader's choropleth: complaints per kecamatan over the chosen period, on the regency's
// boundaries (Leaflet and GeoJSON served by SIAGA itself; no tile server, no CDN), and its
// legend: which colour stands for how many complaints.
(function () {
  "use strict";
  var NONE = "#f1f4f7";
  var STEPS = ["#fde0c5", "#facba6", "#f8b58b", "#f59e72", "#f2855d", "#ef6a4c", "#d9473b", "#b3262e"];
  function step(v, max) {
    return Math.min(STEPS.length - 1, Math.floor(Math.min(1, v / (max || 1)) * STEPS.length));
  }
  function colour(v, max) {
    return v ? STEPS[step(v, max)] : NONE;
  }
  // The range of counts each colour covers, read off the same rule that paints the map.
  function ranges(max) {
    var out = [];
    for (var v = 1; v <= max; v++) {
      var i = step(v, max), last = out[out.length - 1];
      if (last && last.step === i) { last.to = v; } else { out.push({step: i, from: v, to: v}); }
    }
    return out;
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
  function legend(max) {
    var box = document.getElementById("peta-legenda");
    if (!box) { return; }
    var note = box.querySelector("p");
    if (note) { box.removeChild(note); }
    var list = document.createElement("ul");
    list.id = "peta-legenda-daftar";
    entry(list, NONE, "Tidak ada pengaduan");
    ranges(max).forEach(function (r) {
      entry(list, STEPS[r.step], r.from === r.to ? r.from + " pengaduan" : r.from + "–" + r.to + " pengaduan");
    });
    box.appendChild(list);
  }
  function start() {
    var el = document.getElementById("peta-kecamatan");
    if (!el || typeof L === "undefined") { return; }
    var map = L.map(el, {attributionControl: false});
    Promise.all([
      fetch(el.dataset.src, {credentials: "same-origin"}).then(function (r) { return r.json(); }),
      fetch("/geo/kecamatan_from_desa.geojson").then(function (r) { return r.json(); })
    ]).then(function (got) {
      var data = got[0], geo = got[1], max = 0;
      Object.keys(data).forEach(function (k) { max = Math.max(max, data[k].pengaduan); });
      var layer = L.geoJSON(geo, {
        style: function (f) {
          var d = data[f.properties.kode] || {};
          return {weight: 1, color: "#0b3d5c", fillOpacity: 0.8, fillColor: colour(d.pengaduan, max)};
        },
        onEachFeature: function (f, l) {
          var d = data[f.properties.kode] || {pengaduan: 0, terbuka: 0, kedaruratan: 0};
          var box = document.createElement("div");
          var title = document.createElement("b");
          title.textContent = f.properties.nama;
          box.appendChild(title);
          box.appendChild(document.createElement("br"));
          box.appendChild(document.createTextNode(
            "Pengaduan " + d.pengaduan + " (terbuka " + d.terbuka + "), kedaruratan " + d.kedaruratan));
          l.bindTooltip(box);
        }
      }).addTo(map);
      map.fitBounds(layer.getBounds());
      legend(max);
    }).catch(function () {
      el.textContent = "Peta tidak dapat dimuat.";
      var box = document.getElementById("peta-legenda");
      if (box) { box.hidden = true; }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
