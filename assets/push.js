/*
 * Live push for /control, /alerts and /kiosk: the server streams what changed (server-sent events,
 * /push/<page>), this script hands it to Dash with `dash_clientside.set_props`, so the page's
 * components and figures stay Dash's own (a map update is a Dash Patch of the live traces' arrays).
 *
 * The page names its stream on its badge (`data-push`). While the stream delivers, the page's polling
 * intervals are switched off and the badge says "live"; when it breaks (no event for WATCHDOG_MS, an
 * error, a refusal) polling is switched back on and the badge says "reconnecting" until events flow
 * again. Dash pages change without a reload, so the script follows the badge as pages come and go.
 */
(function () {
    "use strict";

    var BADGE = "push-badge";
    var SCRIPT_ID = "mk-push";
    var WATCHDOG_MS = 25000; // the server sends at least a ping every 10 s
    var REOPEN_MS = 3000; // after a refused or dead stream (the browser's own retry covers drops)
    var FIRST_LIVE_MS = 3000; // a page whose stream has not delivered by then polls meanwhile
    // Per page: the intervals to stop while live ({disabled: true}), or to slow ({interval: ms}); the
    // values they poll with again when the stream is down.
    var POLLING = {
        control: {
            live: {"control-interval": {disabled: true}, "alert-interval": {disabled: true}},
            down: {"control-interval": {disabled: false}, "alert-interval": {disabled: false}}
        },
        alerts: {
            live: {"alert-interval": {disabled: true}},
            down: {"alert-interval": {disabled: false}}
        },
        // The kiosk's own callback keeps its attract/explore state and big numbers, less often while
        // live (the badge's data-live-poll-ms); the map's positions are pushed.
        kiosk: {
            live: {"kiosk-interval": {interval: "live-poll-ms"}},
            down: {"kiosk-interval": {interval: 1000}}
        }
    };

    var RECENT = 20; // messages kept for the browser tests (what reached this page)
    var state = {page: null, source: null, live: false, lastEvent: 0, kioskTrials: null, critical: null,
                 reopenAt: 0, openedAt: 0, updates: 0, recent: []};
    window.mkPush = state; // read by the browser tests and the bench

    // Intervals and stores have no element: whether Dash knows the id is for `set_props` to say.
    function setProps(id, props) {
        var dc = window.dash_clientside;
        if (!dc || typeof dc.set_props !== "function") {
            return;
        }
        try {
            dc.set_props(id, props);
        } catch (err) {
            console.warn("live update for " + id + " not applied", err);
        }
    }

    function badge(text, live) {
        var el = document.getElementById(BADGE);
        if (!el) {
            return;
        }
        el.textContent = text;
        el.className = "push-badge " + (live ? "push-live" : "push-reconnecting");
    }

    function polling(page, live) {
        var wanted = POLLING[page][live ? "live" : "down"];
        var el = document.getElementById(BADGE);
        var livePoll = Number(el ? el.getAttribute("data-live-poll-ms") : 0) || 5000;
        Object.keys(wanted).forEach(function (id) {
            var props = {};
            Object.keys(wanted[id]).forEach(function (name) {
                var value = wanted[id][name];
                props[name] = value === "live-poll-ms" ? livePoll : value;
            });
            setProps(id, props);
        });
    }

    function goLive() {
        state.lastEvent = Date.now();
        state.openedAt = 0;
        if (!state.live) {
            state.live = true;
            polling(state.page, true);
            badge("live", true);
        }
    }

    function goDown() {
        polling(state.page, false);
        state.live = false;
        badge("reconnecting", false);
    }

    function close() {
        if (state.source) {
            state.source.close();
            state.source = null;
        }
    }

    // The kiosk trial on show is the active button's (the kiosk's callback sets it).
    function kioskShown() {
        var active = document.querySelector(".kiosk-button.active[id]");
        try {
            return active ? JSON.parse(active.id).trial : null;
        } catch (e) {
            return null;
        }
    }

    function kioskOpacity(trials) {
        var chosen = kioskShown();
        return trials.map(function (t) { return t === chosen ? 1.0 : 0.3; });
    }

    // The shown trial's live figures onto its stage (big number, unit, sentence), as they change.
    function kioskFacts(facts) {
        var shown = facts && facts[kioskShown()];
        if (!shown) {
            return;
        }
        Object.keys(shown).forEach(function (id) {
            var element = document.getElementById(id);
            if (element && element.textContent !== String(shown[id])) {
                setProps(id, {children: shown[id]});
            }
        });
    }

    function forScript(parts) {
        if (parts.kiosk) {
            state.kioskTrials = parts.kiosk;
            kioskFacts(parts.kiosk.facts);
        }
        if (parts.critical) {
            var before = state.critical;
            state.critical = parts.critical;
            var fresh = before === null ? [] : parts.critical.filter(function (id) { return before.indexOf(id) < 0; });
            if (fresh.length) { // the feed's beep (first update: nothing announced, as on first load)
                setProps("alert-beep", {data: {"new": fresh, at: Date.now() / 1000}});
            }
        }
    }

    // Parts of one property sent apart ("figure#3.lat": a Patch of one array) joined into one Patch.
    function joined(values) {
        var out = {};
        Object.keys(values).forEach(function (key) {
            var mark = key.indexOf("#");
            var prop = mark < 0 ? key : key.slice(0, mark);
            var value = values[key];
            if (mark < 0 || !value || !value.operations) {
                out[prop] = value;
            } else if (out[prop] && out[prop].operations) {
                out[prop].operations = out[prop].operations.concat(value.operations);
            } else {
                out[prop] = value;
            }
        });
        return out;
    }

    // A figure is patched again only once its last patch is drawn, and after a rest as long as that
    // draw took (at least REST_MS): on software WebGL a map redraw takes 100-400 ms of the main thread,
    // and redrawing at the push rate would leave no time for the operator's clicks. Arrays that arrive
    // meanwhile are merged (the newest value of each wins) and drawn together: the newest data is drawn,
    // never a queue of older frames.
    var figures = {};
    var DRAW_WAIT_MS = 3000; // never wait longer than this for a draw to report
    var REST_MS = 250;

    function patchFigure(id, patch) {
        var entry = figures[id] || (figures[id] = {pending: {}, drawing: false, since: 0, readyAt: 0, timer: null});
        patch.operations.forEach(function (op) { entry.pending[JSON.stringify(op.location)] = op; });
        if (entry.drawing && Date.now() - entry.since < DRAW_WAIT_MS) {
            return; // drawn when the current draw reports (plotly_afterplot)
        }
        schedule(id, entry);
    }

    function schedule(id, entry) {
        if (entry.timer !== null) {
            return;
        }
        var wait = Math.max(0, entry.readyAt - Date.now());
        entry.timer = setTimeout(function () {
            entry.timer = null;
            drawFigure(id, entry);
        }, wait);
    }

    function drawn(id, entry) {
        var took = Date.now() - entry.since;
        entry.drawing = false;
        entry.readyAt = Date.now() + Math.max(REST_MS, took);
        if (Object.keys(entry.pending).length) {
            schedule(id, entry);
        }
    }

    function drawFigure(id, entry) {
        var ops = Object.keys(entry.pending).map(function (k) { return entry.pending[k]; });
        entry.pending = {};
        if (!ops.length) {
            return;
        }
        entry.drawing = true;
        entry.since = Date.now();
        var gd = document.querySelector("#" + id + " .js-plotly-plot");
        if (gd && typeof gd.once === "function") {
            gd.once("plotly_afterplot", function () { drawn(id, entry); });
        } else {
            drawn(id, entry);
        }
        setProps(id, {figure: {__dash_patch_update: "__dash_patch_update", operations: ops}});
    }

    function apply(message) {
        var props = message.props || {};
        if (props[SCRIPT_ID]) {
            forScript(props[SCRIPT_ID]);
        }
        Object.keys(props).forEach(function (id) {
            if (id === SCRIPT_ID) {
                return;
            }
            var values = joined(props[id]);
            if (id === "kiosk-map" && values.figure && values.figure.operations && state.kioskTrials) {
                var k = state.kioskTrials;
                values.figure.operations.push({
                    operation: "Assign",
                    location: ["data", k.trace, "marker", "opacity"],
                    params: {value: kioskOpacity(k.trials)}
                });
            }
            var figure = values.figure;
            if (figure && figure.operations) {
                delete values.figure;
                patchFigure(id, figure);
            }
            if (Object.keys(values).length) {
                setProps(id, values);
            }
        });
        state.updates += 1;
    }

    function open(page) {
        close();
        state.page = page;
        state.openedAt = Date.now();
        state.kioskTrials = null;
        Object.keys(figures).forEach(function (id) { clearTimeout(figures[id].timer); });
        figures = {};
        state.critical = null;
        var source = new EventSource("/push/" + page);
        state.source = source;
        source.addEventListener("update", function (e) {
            if (source !== state.source) {
                return;
            }
            goLive();
            state.recent.push(e.data);
            if (state.recent.length > RECENT) {
                state.recent.shift();
            }
            try {
                apply(JSON.parse(e.data));
            } catch (err) {
                console.warn("live update not applied", err);
            }
        });
        source.addEventListener("ping", function () {
            if (source === state.source) {
                goLive();
            }
        });
        source.addEventListener("denied", function () {
            close();
            goDown();
        });
        source.onerror = function () {
            if (source !== state.source) {
                return;
            }
            goDown();
            if (source.readyState === EventSource.CLOSED) { // refused (401/403/503): try again later
                state.source = null;
                state.reopenAt = Date.now() + REOPEN_MS;
            }
        };
    }

    // Follow the page: open the stream its badge names, close it when the page goes.
    setInterval(function () {
        var el = document.getElementById(BADGE);
        var page = el ? el.getAttribute("data-push") : null;
        if (!page || !POLLING[page]) {
            if (state.page) {
                close();
                state.page = null;
                state.live = false;
            }
            return;
        }
        if (page !== state.page) {
            state.live = false;
            open(page);
            return;
        }
        if (!state.live && state.openedAt && Date.now() - state.openedAt > FIRST_LIVE_MS) {
            state.openedAt = 0; // never live yet: poll (once: goDown is idempotent but not free)
            goDown();
        }
        if (state.live && Date.now() - state.lastEvent > WATCHDOG_MS) { // silent: treat as down
            close();
            goDown();
            state.reopenAt = Date.now() + REOPEN_MS;
        }
        if (!state.source && Date.now() >= state.reopenAt) {
            open(page);
        }
    }, 250);
}());
