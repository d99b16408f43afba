// The citizen form's location picker: Leaflet and the regency's boundaries, both served by SIAGA
// itself (no CDN, no tile server needed). A click sets the hidden lat/lon fields.
(function () {
  "use strict";
  function start() {
    var el = document.getElementById("peta");
    if (!el || typeof L === "undefined") { return; }
    var map = L.map(el).setView([-7.36, 109.92], 10);
    fetch("/geo/kecamatan_from_desa.geojson").then(function (r) { return r.ok ? r.json() : null; })
      .then(function (g) {
        if (g) { map.fitBounds(L.geoJSON(g, {style: {weight: 1, color: "#0b3d5c", fillOpacity: 0.05}}).addTo(map).getBounds()); }
      }).catch(function () {});
    var marker = null;
    map.on("click", function (ev) {
      document.getElementById("lat").value = ev.latlng.lat.toFixed(6);
      document.getElementById("lon").value = ev.latlng.lng.toFixed(6);
      if (marker) { marker.setLatLng(ev.latlng); } else { marker = L.marker(ev.latlng).addTo(map); }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
