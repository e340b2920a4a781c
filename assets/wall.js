/*
 * Control wall: choosing an asset answers in the browser.
 *
 * Lists on the wall are redrawn by the server every tick, and one asset can appear in several of them
 * (link lost, several open alerts). So an element that selects an asset carries `data-asset`, not a
 * callback id, and one listener on the document selects it: on `pointerdown`, so a row redrawn between
 * press and release still counts, and on a keyboard `click` (Enter or Space on a focused row).
 * The selection is the `control-selected` store; the clientside callbacks below show or hide the
 * panel's head from it at once, and the server fills in the panel's body.
 */
(function () {
    "use strict";

    var SELECTED = "control-selected";
    var PANEL = "detail-panel";

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

    document.addEventListener("pointerdown", function (event) {
        if (event.button !== 0 || !event.isPrimary) {
            return;
        }
        var asset = assetOf(event);
        if (asset) {
            select(asset);
        }
    });

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
        // The selected asset from a marker click (its customdata) or Close (none).
        choose: function (clickData, _closeClicks) {
            var context = dc.callback_context;
            var triggered = context && context.triggered_id;
            if (triggered === "control-detail-close") {
                return null;
            }
            var points = clickData && clickData.points;
            var asset = points && points.length ? points[0].customdata : null;
            return typeof asset === "string" && asset ? asset : dc.no_update;
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
