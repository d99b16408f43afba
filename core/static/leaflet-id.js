// Leaflet's own controls speak English ("Zoom in"); SIAGA's maps speak Bahasa Indonesia. Loaded
// right after leaflet.js and before any page makes a map, so every map gets these words.
(function () {
  "use strict";
  L.Control.Zoom.mergeOptions({ zoomInTitle: "Perbesar", zoomOutTitle: "Perkecil" });
})();
