// The citizen form's location picker: Leaflet and the regency's boundaries, both served by SIAGA
// itself (no CDN, no tile server needed). A click sets the hidden lat/lon fields; a point outside
// every kecamatan is not kept, and the citizen is told why.
(function () {
  "use strict";
  var OUTSIDE = "Titik yang dipilih berada di luar Kabupaten Wonosobo. Pilih lokasi di dalam batas wilayah.";

  // ray casting over one ring of [lon, lat] pairs
  function inRing(ring, x, y) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) { inside = !inside; }
    }
    return inside;
  }
  function inPolygon(rings, x, y) {
    if (!inRing(rings[0], x, y)) { return false; }
    for (var k = 1; k < rings.length; k++) { if (inRing(rings[k], x, y)) { return false; } }
    return true;
  }
  function inside(g, lat, lon) {
    return g.features.some(function (f) {
      var geom = f.geometry;
      if (geom.type === "Polygon") { return inPolygon(geom.coordinates, lon, lat); }
      if (geom.type === "MultiPolygon") { return geom.coordinates.some(function (p) { return inPolygon(p, lon, lat); }); }
      return false;
    });
  }

  function start() {
    var el = document.getElementById("peta");
    if (!el || typeof L === "undefined") { return; }
    var warn = document.createElement("p");
    warn.id = "peta-peringatan";
    warn.className = "err";
    warn.setAttribute("role", "alert");
    warn.hidden = true;
    el.parentNode.insertBefore(warn, el.nextSibling);
    var map = L.map(el).setView([-7.36, 109.92], 10);
    var bounds = null;
    fetch("/geo/kecamatan_from_desa.geojson").then(function (r) { return r.ok ? r.json() : null; })
      .then(function (g) {
        if (g) {
          bounds = g;
          map.fitBounds(L.geoJSON(g, {style: {weight: 1, color: "#0b3d5c", fillOpacity: 0.05}}).addTo(map).getBounds(), {animate: false});
        }
      }).catch(function () {});
    var marker = null;
    map.on("click", function (ev) {
      var lat = ev.latlng.lat, lon = ev.latlng.lng;
      if (bounds && !inside(bounds, lat, lon)) {
        // not sent: the point is cleared so the report goes without a location rather than a wrong one
        warn.textContent = OUTSIDE;
        warn.hidden = false;
        document.getElementById("lat").value = "";
        document.getElementById("lon").value = "";
        if (marker) { map.removeLayer(marker); marker = null; }
        return;
      }
      warn.hidden = true;
      document.getElementById("lat").value = lat.toFixed(6);
      document.getElementById("lon").value = lon.toFixed(6);
      if (marker) { marker.setLatLng(ev.latlng); } else { marker = L.marker(ev.latlng).addTo(map); }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
