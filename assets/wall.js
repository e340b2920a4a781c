/*
 * Control wall: choosing an asset answers in the browser.
 *
 * Lists on the wall are redrawn by the server every tick, and one asset can appear in several of them
 * (link lost, several open alerts). So an element that selects an asset carries `data-asset`, not a
 * callback id, and one listener on the document selects it: on `pointerdown`, so a row redrawn between
 * press and release still counts, and on a keyboard `click` (Enter or Space on a focused row). A map
 * marker selects from Plotly's own click event.
 * The selection is the `control-selected` store; the clientside callbacks below show or hide the
 * panel's head from it at once, and the server fills in the panel's body.
 */
(function () {
    "use strict";

    var SELECTED = "control-selected";
    var PANEL = "detail-panel";
    var MAP = "control-map";

    function assetOf(event) {
        var target = event.target;
        var link = target && target.closest ? target.closest("[data-asset]") : null;
        if (!link || !link.closest(".page-control")) {
            return null;
        }
        return link.getAttribute("data-asset") || null;
    }

    function select(asset) {
        var dc = window.dash_clientside;
        if (dc && typeof dc.set_props === "function") {
            dc.set_props(SELECTED, {data: asset});
        }
    }

    // A marker's click, straight from Plotly: the graph's clickData prop goes through a re-render of
    // the whole map component before any callback sees it (a few hundred ms on a busy wall).
    function markerClicks(graph) {
        if (!graph || graph.mkSelects || typeof graph.on !== "function") {
            return;
        }
        graph.mkSelects = true;
        graph.on("plotly_click", function (data) {
            var point = data && data.points && data.points[0];
            var asset = point ? point.customdata : null;
            if (typeof asset === "string" && asset) {
                select(asset);
            }
        });
    }

    // The marker under a mouse pointer as it is pressed: Plotly has found it while the pointer moved
    // (the points it would report with its click, after the press and release). Touch has no hover:
    // a tap selects from Plotly's click instead.
    function hovered(graph) {
        var points = graph._hoverdata;
        var point = points && points.length ? points[0] : null;
        var asset = point ? point.customdata : null;
        return typeof asset === "string" && asset ? asset : null;
    }

    document.addEventListener(
        "pointerdown",
        function (event) {
            if (event.button !== 0 || !event.isPrimary) {
                return;
            }
            var target = event.target;
            var graph = target && target.closest ? target.closest("#" + MAP + " .js-plotly-plot") : null;
            markerClicks(graph); // before its click arrives
            var asset = graph ? hovered(graph) : assetOf(event);
            if (asset) {
                select(asset);
            }
        },
        true
    );

    document.addEventListener("click", function (event) {
        if (event.detail !== 0) {
            return; // a pointer click: already selected on pointerdown
        }
        var asset = assetOf(event);
        if (asset) {
            select(asset);
        }
    });

    var shown = null; // the asset whose details the panel holds
    var dc = (window.dash_clientside = window.dash_clientside || {});
    dc.wall = {
        // Close: no asset selected.
        close: function (clicks) {
            return clicks ? null : dc.no_update;
        },
        // The panel's class, title, head details and body (cleared when another asset is chosen, until
        // the server's arrive), and whether the body's refresh is off.
        panel: function (asset) {
            if (typeof asset !== "string" || !asset) {
                shown = null;
                return [PANEL + " hidden", "", [], [], true];
            }
            var same = asset === shown;
            shown = asset;
            return [PANEL, asset, same ? dc.no_update : [], same ? dc.no_update : [], false];
        },
    };
})();
