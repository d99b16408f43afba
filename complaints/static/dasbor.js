// The leader's choropleth: complaints per kecamatan over the chosen period, on the regency's
// boundaries (Leaflet and GeoJSON served by SIAGA itself; no tile server, no CDN).
(function () {
  "use strict";
  function colour(v, max) {
    if (!v) { return "#f1f4f7"; }
    var t = Math.min(1, v / (max || 1));
    var steps = ["#fde0c5", "#facba6", "#f8b58b", "#f59e72", "#f2855d", "#ef6a4c", "#d9473b", "#b3262e"];
    return steps[Math.min(steps.length - 1, Math.floor(t * steps.length))];
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
    }).catch(function () { el.textContent = "Peta tidak dapat dimuat."; });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
