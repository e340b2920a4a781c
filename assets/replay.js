/* Incident replay, in the browser: the cursor moves over the window the server sent once (the
 * `replay-frames` store), so playback and slider steps never wait for a round trip. A click (or Enter)
 * on an event or alert row moves the cursor to its time.
 *
 * The map figure's trace order is layouts/maps.py's: 0 trails, 1 headings, 2 age rings, 3 markers,
 * 4 alert rings. Event and alert rows carry `data-ts` (and alerts `data-end`): their classes are set
 * here, as the cursor passes them. */
(function () {
  "use strict";
  const TRAILS = 0, MARKERS = 3, ALERT_RINGS = 4;
  const TICK_S = 0.25;       // layouts/replay.py TICK_MS
  const TRAIL_S = 120;       // dashboard/core/replay.py TRAIL_S
  const SILENT_AFTER_S = 30; // dashboard/core/replay.py SILENT_AFTER_S (frames say more when thinned)
  const SILENT_COLOUR = "#6b7280";  // layouts/replay.py SILENT_COLOUR
  const UNKNOWN_COLOUR = "#e2e8f0";
  const RING = { critical: "rgba(239, 68, 68, 0.85)", major: "rgba(249, 115, 22, 0.8)",
                 minor: "rgba(250, 204, 21, 0.7)", warning: "rgba(250, 204, 21, 0.55)" };
  const nu = () => window.dash_clientside.no_update;
  let latest = 0;  // the cursor last drawn (seconds since the epoch)

  /* Index of the last value <= t in the sorted array `ts`, or -1. */
  function lastAtOrBefore(ts, t) {
    let lo = 0, hi = ts.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (ts[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }

  function clock(t) {
    return new Date(t * 1000).toISOString().slice(11, 19);
  }

  function trace(base, patch) {
    return Object.assign({}, base, patch);
  }

  /* Mark list rows against the cursor; returns [passed, total, active]. */
  function markRows(listId, t, withEnd) {
    const rows = document.querySelectorAll("#" + listId + " .replay-row");
    let passed = 0, active = 0, current = null;
    rows.forEach((row) => {
      const start = parseFloat(row.dataset.ts);
      const endText = row.dataset.end;
      const end = withEnd ? (endText === "" ? Infinity : parseFloat(endText)) : start;
      const isPast = start <= t;
      const isActive = withEnd && isPast && end >= t;
      row.classList.toggle("is-past", isPast && !isActive);
      row.classList.toggle("is-future", !isPast);
      row.classList.toggle("is-active", isActive);
      row.classList.remove("is-current");
      if (isPast) { passed += 1; current = row; }
      if (isActive) { active += 1; }
    });
    if (current) {
      current.classList.add("is-current");
      const list = current.parentElement;
      if (list && (current.offsetTop < list.scrollTop || current.offsetTop > list.scrollTop + list.clientHeight - current.offsetHeight)) {
        list.scrollTop = rowAlignedTop(list, current);
      }
    }
    return [passed, rows.length, active];
  }

  /* The scroll position that shows `row` about mid-list with a whole row at the top: scrolling to a
   * pixel offset would leave the top row cut in half. */
  function rowAlignedTop(list, row) {
    let top = row;
    let room = list.clientHeight / 2;
    while (top.previousElementSibling && room >= top.offsetHeight) {
      room -= top.offsetHeight;
      top = top.previousElementSibling;
    }
    const first = list.firstElementChild;
    const origin = first ? first.offsetTop : 0;
    // Near the end the list cannot scroll that far (the browser would stop mid-row): a row higher up.
    const most = list.scrollHeight - list.clientHeight;
    while (top.previousElementSibling && top.offsetTop - origin > most) { top = top.previousElementSibling; }
    return Math.max(0, top.offsetTop - origin);
  }

  /* A click (or Enter) on an event or alert row moves the cursor to its time. */
  let windowStart = null;  // the loaded window's start, set when it is drawn
  function moveTo(event) {
    if (event.type === "keydown" && event.key !== "Enter" && event.key !== " ") { return; }
    const row = event.target.closest && event.target.closest("#replay-events .replay-row, #replay-alerts .replay-row");
    if (!row || windowStart === null || !window.dash_clientside.set_props) { return; }
    event.preventDefault();
    window.dash_clientside.set_props("replay-slider", { value: Math.max(0, parseFloat(row.dataset.ts) - windowStart) });
  }
  document.addEventListener("click", moveTo);
  document.addEventListener("keydown", moveTo);

  function mapAt(figure, frames, t) {
    const trails = { lat: [], lon: [] };
    const markers = { lat: [], lon: [], color: [], customdata: [], text: [] };
    const placed = {};
    Object.keys(frames.assets).forEach((id) => {
      const a = frames.assets[id];
      const i = lastAtOrBefore(a.t, t);
      if (i < 0) { return; }
      const silent = t - a.t[i] > (frames.silent_after_s || SILENT_AFTER_S);
      const colour = silent ? SILENT_COLOUR : (frames.colours[a.trial + "/" + a.state[i]] || UNKNOWN_COLOUR);
      markers.lat.push(a.lat[i]); markers.lon.push(a.lon[i]); markers.color.push(colour);
      markers.customdata.push(id);
      markers.text.push(id + " · " + (a.state[i] || "–") + (silent ? " · silent" : ""));
      placed[id] = [a.lat[i], a.lon[i]];
      const first = lastAtOrBefore(a.t, t - TRAIL_S) + 1;
      if (i > first) {
        for (let k = first; k <= i; k++) { trails.lat.push(a.lat[k]); trails.lon.push(a.lon[k]); }
        trails.lat.push(null); trails.lon.push(null);
      }
    });
    const rings = { lat: [], lon: [], color: [], customdata: [] };
    frames.alerts.forEach((al) => {
      const on = al.start <= t && (al.end === null || al.end >= t);
      if (!on || !placed[al.asset]) { return; }
      rings.lat.push(placed[al.asset][0]); rings.lon.push(placed[al.asset][1]);
      rings.color.push(RING[al.severity] || RING.warning); rings.customdata.push(al.asset);
    });
    const data = figure.data.slice();
    data[TRAILS] = trace(data[TRAILS], { lat: trails.lat, lon: trails.lon });
    data[MARKERS] = trace(data[MARKERS], {
      lat: markers.lat, lon: markers.lon, customdata: markers.customdata, text: markers.text,
      marker: Object.assign({}, data[MARKERS].marker, { color: markers.color }),
    });
    data[ALERT_RINGS] = trace(data[ALERT_RINGS], {
      lat: rings.lat, lon: rings.lon, customdata: rings.customdata,
      marker: Object.assign({}, data[ALERT_RINGS].marker, { color: rings.color }),
    });
    return Object.assign({}, figure, { data: data });
  }

  function chartAt(chart, t) {
    if (!chart || !chart.layout || !chart.layout.shapes || !chart.layout.shapes.length) { return nu(); }
    const stamp = new Date(t * 1000).toISOString().replace("T", " ").slice(0, 23);
    const shapes = chart.layout.shapes.slice();
    shapes[0] = Object.assign({}, shapes[0], { x0: stamp, x1: stamp });
    return Object.assign({}, chart, { layout: Object.assign({}, chart.layout, { shapes: shapes }) });
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    replay: {
      toggle: function (_clicks, disabled, value, max) {
        const start = disabled;  // paused now: start playing
        if (start && value >= max) { return [nu(), nu()]; }
        return [!start, start ? "Pause" : "Play"];
      },
      tick: function (_n, value, max, speed) {
        const next = (value || 0) + (speed || 1) * TICK_S;
        if (next >= max) { return [max, true, "Play"]; }
        return [Math.round(next * 100) / 100, nu(), nu()];
      },
      draw: function (value, frames, chart, figure, _focus) {
        if (!frames || !figure) { return [nu(), "–", "", "", nu()]; }
        const t = frames.start + (value || 0);
        windowStart = frames.start;
        markRows("replay-events", t, false);
        markRows("replay-alerts", t, true);
        // The rows of a window just loaded may reach the page after this runs: mark them again then.
        latest = t;
        window.setTimeout(() => { markRows("replay-events", latest, false); markRows("replay-alerts", latest, true); }, 50);
        const passed = lastAtOrBefore(frames.events.map((e) => e.ts), t) + 1;
        const active = frames.alerts.filter((a) => a.start <= t && (a.end === null || a.end >= t)).length;
        return [
          mapAt(figure, frames, t),
          clock(t) + " UTC",
          passed + " of " + frames.events.length + " so far",
          active + " active at the cursor, " + frames.alerts.length + " in the window",
          chartAt(chart, t),
        ];
      },
      radio: function (value, radio, chart) {
        if (!radio || !radio.segments || !chart || !chart.data) { return [nu(), ""]; }
        const t = radio.start + (value || 0);
        const i = lastAtOrBefore(radio.segments.map((s) => s.from), t);
        const segment = i >= 0 ? radio.segments[i] : null;
        const chosen = segment ? segment.cells : [];
        const data = chart.data.map((tr) => (tr.meta ? Object.assign({}, tr, { opacity: chosen.indexOf(tr.meta) >= 0 ? 1 : 0.2 }) : tr));
        const moved = chartAt(Object.assign({}, chart, { data: data }), t);
        let title = "no position yet at the cursor";
        if (segment && segment.named) {
          title = "serving cell " + chosen[0] + " (named by the asset)" + (segment.metres[0] !== null ? ", " + segment.metres[0] + " m away" : "");
        } else if (segment && chosen.length) {
          title = "nearest cells at the cursor: " + chosen.map((c, k) => c + " " + segment.metres[k] + " m").join(", ");
        }
        return [moved === nu() ? Object.assign({}, chart, { data: data }) : moved, title];
      },
      pick: function (click) {
        const point = click && click.points && click.points[0];
        if (!point || typeof point.customdata !== "string") { return nu(); }
        return point.customdata;
      },
    },
  });
})();
