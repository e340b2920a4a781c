/*
 * Control wall: choosing an asset answers in the browser, in the same task as the press.
 *
 * Lists on the wall are redrawn by the server every tick, and one asset can appear in several of them
 * (link lost, several open alerts). So an element that selects an asset carries `data-asset`, not a
 * callback id, and one listener on the document selects it: on `pointerdown`, so a row redrawn between
 * press and release still counts, and on a keyboard `click` (Enter or Space on a focused row). A map
 * marker selects on the press too (the marker Plotly found under the moving pointer), and from Plotly's
 * click for touch, which has no hover.
 *
 * The panel's head (shown or hidden, the asset's name) belongs to this script: no callback writes it,
 * so it changes in the press's own task instead of waiting for Dash's callback queue, which on a busy
 * wall waits behind the map's redraw. The selection also goes to the `control-selected` store, from
 * which Dash clears the old details and the server fills in the new ones.
 */
(function () {
    "use strict";

    var SELECTED = "control-selected";
    var PANEL = "control-detail";
    var TITLE = "control-detail-title";
    var CLOSE = "control-detail-close";
    var MAP = "control-map";

    function assetOf(target) {
        var link = target && target.closest ? target.closest("[data-asset]") : null;
        if (!link || !link.closest(".page-control")) {
            return null;
        }
        return link.getAttribute("data-asset") || null;
    }

    function showHead(asset) {
        var panel = document.getElementById(PANEL);
        var title = document.getElementById(TITLE);
        if (!panel || !title) {
            return;
        }
        title.textContent = asset || "";
        panel.classList.toggle("hidden", !asset);
    }

    function select(asset) {
        showHead(asset);
        var dc = window.dash_clientside;
        if (dc && typeof dc.set_props === "function") {
            dc.set_props(SELECTED, {data: asset});
        }
    }

    // The marker under a mouse pointer as it is pressed: Plotly found it while the pointer moved (the
    // points it would report with its click, after press and release).
    function hovered(graph) {
        var points = graph._hoverdata;
        var point = points && points.length ? points[0] : null;
        var asset = point ? point.customdata : null;
        return typeof asset === "string" && asset ? asset : null;
    }

    // Taps (no hover) select from Plotly's click; selecting the asset already shown changes nothing.
    function markerClicks(graph) {
        if (!graph || graph.mkSelects || typeof graph.on !== "function") {
            return;
        }
        graph.mkSelects = true;
        graph.on("plotly_click", function (data) {
            var point = data && data.points && data.points[0];
            var asset = point ? point.customdata : null;
            var title = document.getElementById(TITLE);
            if (typeof asset === "string" && asset && !(title && title.textContent === asset)) {
                select(asset);
            }
        });
    }

    // The map's redraws wait from a press until the frame that answers it is on screen. On software
    // WebGL (a wall PC without a GPU) each redraw is read back from the canvas in its frame's commit,
    // 100-400 ms of the main thread, and a redraw that falls in the frame showing the panel delays the
    // panel by as much. A redraw asked for meanwhile is made right after, so the map lags by one frame.
    function holdMapUntilPainted() {
        var graph = document.querySelector("#" + MAP + " .js-plotly-plot");
        var layout = graph && graph._fullLayout;
        var map = layout && layout.map && layout.map._subplot ? layout.map._subplot.map : null;
        if (!map || typeof map._render !== "function" || typeof map.triggerRepaint !== "function") {
            return;
        }
        if (!map.mkHold) {
            var hold = (map.mkHold = {presses: 0, missed: false});
            var render = map._render;
            map._render = function (timeStamp) {
                if (hold.presses > 0) {
                    hold.missed = true;
                    return this;
                }
                return render.call(this, timeStamp);
            };
        }
        var held = map.mkHold;
        held.presses += 1;
        requestAnimationFrame(function () {
            setTimeout(function () { // the task after the frame: it has been painted
                held.presses -= 1;
                if (held.presses === 0 && held.missed) {
                    held.missed = false;
                    map.triggerRepaint();
                }
            }, 0);
        });
    }

    document.addEventListener(
        "pointerdown",
        function (event) {
            if (event.button !== 0 || !event.isPrimary) {
                return;
            }
            var target = event.target;
            if (target && target.closest && target.closest(".page-control")) {
                holdMapUntilPainted();
            }
            if (target && target.closest && target.closest("#" + CLOSE)) {
                select(null);
                return;
            }
            var graph = target && target.closest ? target.closest("#" + MAP + " .js-plotly-plot") : null;
            markerClicks(graph);
            var asset = graph ? hovered(graph) : assetOf(target);
            if (asset) {
                select(asset);
            }
            if (graph && asset) {
                // A press on a marker chooses it and does not start a pan: the map's mousedown would
                // redraw the whole map in the very frame that shows the panel.
                event.preventDefault();
            }
        },
        true
    );

    document.addEventListener("click", function (event) {
        if (event.detail !== 0) {
            return; // a pointer click: already handled on pointerdown
        }
        var target = event.target;
        if (target && target.closest && target.closest("#" + CLOSE)) {
            select(null);
            return;
        }
        var asset = assetOf(target);
        if (asset) {
            select(asset);
        }
    });

    var shown = null; // the asset whose details the panel holds
    // Other scripts may replace `window.dash_clientside` (copying what it holds): it is read when used.
    window.dash_clientside = window.dash_clientside || {};
    window.dash_clientside.wall = {
        // From the selection: the panel's details cleared when another asset is chosen (until the
        // server's arrive), and whether their refresh is off.
        details: function (asset) {
            if (typeof asset !== "string" || !asset) {
                shown = null;
                return [[], [], true];
            }
            var same = asset === shown;
            var keep = window.dash_clientside.no_update;
            shown = asset;
            return [same ? keep : [], same ? keep : [], false];
        },
    };
})();
