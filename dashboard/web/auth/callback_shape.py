"""Is a Dash callback request well formed for the callback it names? Checked before the callback runs.

Dash hands a callback its inputs and state by position and checks little of what the browser sent:
an input's id is not compared with the callback's, and an output may be wrapped in a list. A request
of another shape could make a callback act (reset a password, say) and then fail with its whole output
in the error, or let the access check read one input while the callback reads another. So every
output, input and state item must be the callback's own, in its order: a plain dependency is one
`{"id", "property"}` item with exactly its id, a wildcard (`ALL`, `ALLSMALLER`) one a list of items
whose ids fit the pattern, `MATCH` a single one. `changedPropIds` may name only inputs sent. Values of
the properties whose type Dash's renderer fixes (`n_clicks` a count, `pathname` text, ...) must have it.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from dash._utils import split_callback_id
from werkzeug.exceptions import BadRequest

_MANY = (["ALL"], ["ALLSMALLER"])  # wildcards that stand for a list of components (MATCH is one)
_SCALARS = (str, int, float, bool)


# What Dash's renderer sends for these properties, whatever the component: a value of another type
# comes from no browser, and would only reach a callback to fail there. (`value` and `data` are
# free: a dropdown's or a store's.)
PROPERTY_TYPES: dict[str, tuple[type, ...]] = {
    "n_clicks": (int,),
    "n_intervals": (int,),
    "pathname": (str,),
    "search": (str,),
    "hash": (str,),
    "start_date": (str,),
    "end_date": (str,),
    "clickData": (dict,),
}


class Malformed(ValueError):
    """The request does not fit the callback; the message says where."""


def _pattern(dep_id: str) -> dict | None:
    """The id of a pattern-matching dependency as a dict (wildcards as `["ALL"]`...), else None."""
    if not dep_id.startswith("{"):
        return None
    return json.loads(dep_id)


def _property(prop: Any) -> str:
    if not isinstance(prop, str):
        raise Malformed("property is not a string")
    return prop.split("@", 1)[0]  # duplicate outputs carry "@<hash>" after the property


def _fits(pattern: dict, item_id: Any) -> bool:
    if not isinstance(item_id, dict) or set(item_id) != set(pattern):
        return False
    for key, wanted in pattern.items():
        value = item_id[key]
        if not isinstance(value, _SCALARS):
            return False
        if not isinstance(wanted, list) and value != wanted:  # a list is a wildcard: any scalar fits
            return False
    return True


def _check(dep: dict, item: Any, where: str) -> list[dict]:
    """The body items standing for `dep`; raises Malformed when `item` does not fit it."""
    dep_id, prop = dep["id"], dep["property"].split("@", 1)[0]
    pattern = _pattern(dep_id)
    if pattern is None:
        if not isinstance(item, dict) or item.get("id") != dep_id or _property(item.get("property")) != prop:
            raise Malformed(f"{where} is not {dep_id}.{prop}")
        return [item]
    many = any(v in _MANY for v in pattern.values())
    items = item if many else [item]
    if not isinstance(items, list) or (not many and not isinstance(item, dict)):
        raise Malformed(f"{where} has the wrong shape for {dep_id}")
    for one in items:
        if not isinstance(one, dict) or not _fits(pattern, one.get("id")) or _property(one.get("property")) != prop:
            raise Malformed(f"{where} does not fit {dep_id}.{prop}")
    return items


def _check_value(item: dict, where: str) -> None:
    value = item.get("value")
    wanted = PROPERTY_TYPES.get(_property(item.get("property")))
    if value is None or wanted is None:
        return
    if isinstance(value, bool) or not isinstance(value, wanted):
        raise Malformed(f"{where}: {item['property']} must be {' or '.join(t.__name__ for t in wanted)}")
    if isinstance(value, int) and not 0 <= value <= 2**53:  # clicks and ticks: counts a browser can hold
        raise Malformed(f"{where}: {item['property']} is out of range")
    if isinstance(value, str) and len(value) > 4096:
        raise Malformed(f"{where}: {item['property']} is too long")


def _check_list(deps: list[dict], sent: Any, where: str) -> list[dict]:
    if not isinstance(sent, list) or len(sent) != len(deps):
        raise Malformed(f"{where}: expected {len(deps)} items")
    found: list[dict] = []
    for i, (dep, item) in enumerate(zip(deps, sent, strict=True)):
        found += _check(dep, item, f"{where}[{i}]")
    return found


def _changed(prop_id: Any) -> tuple[Any, str]:
    """(id, property) of a `changedPropIds` entry: `"name.prop"` or `'{"a":1}.prop'`."""
    if not isinstance(prop_id, str) or "." not in prop_id:
        raise Malformed("changedPropIds entry is not an id.property")
    item_id, prop = prop_id.rsplit(".", 1)
    if item_id.startswith("{"):
        try:
            item_id = json.loads(item_id)
        except ValueError:
            raise Malformed("changedPropIds entry has a malformed id") from None
    return item_id, prop


def check(entry: dict, body: dict) -> None:
    """Raise Malformed unless `body` is a request of the callback `entry` (a `callback_map` value)."""
    output = body["output"]
    outputs = split_callback_id(output)
    multi = isinstance(outputs, list)
    output_deps = outputs if multi else [outputs]
    sent_outputs = body.get("outputs")
    if not entry.get("no_output"):
        _check_list(output_deps, sent_outputs if multi else [sent_outputs], "outputs")
    inputs = _check_list(entry.get("inputs") or [], body.get("inputs"), "inputs")
    states = _check_list(entry.get("state") or [], body.get("state", []), "state")
    for item in inputs + states:
        _check_value(item, "inputs and state")
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list):
        raise Malformed("changedPropIds is not a list")
    sent = [(item["id"], _property(item["property"])) for item in inputs]
    if any(_changed(c) not in sent for c in changed):
        raise Malformed("changedPropIds names an input not sent")


def value_of(entry: dict, body: dict, dep_id: str, prop: str) -> Any:
    """The value sent for the plain input `dep_id.prop` of a request `check` has accepted: by position,
    as Dash passes it to the callback."""
    for i, dep in enumerate(entry.get("inputs") or []):
        if dep["id"] == dep_id and dep["property"] == prop:
            return body["inputs"][i].get("value")
    raise KeyError(f"{dep_id}.{prop} is not an input of this callback")


# --- for callbacks: values a browser may echo back (a store's data, a dropdown's value) -------------
def refuse(what: str) -> NoReturn:
    """End a callback whose request carries a value no page of ours sends: `400`, nothing logged as
    an incident (a tampered or broken request is the caller's fault, not the server's)."""
    raise BadRequest(f"malformed callback request: {what}")


def words(value: Any, what: str) -> tuple[str, ...]:
    """A dropdown's value as a tuple of names: none, one name or a list of names."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    refuse(what)


def mapping(value: Any, what: str) -> dict | None:
    """A store's data that the server wrote as an object (or has not written yet)."""
    if value is None or isinstance(value, dict):
        return value
    refuse(what)


def identifier(value: Any, what: str, kind: type = str) -> Any:
    """A store's data that the server wrote as one id (text, or an integer a database column holds)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        refuse(what)
    if isinstance(value, int) and not 0 <= value < 2**63:
        refuse(what)
    if isinstance(value, str) and len(value) > 256:
        refuse(what)
    return value


def numbers(value: Any, what: str) -> list[int]:
    """A store's data that the server wrote as a list of integer ids."""
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return value
    refuse(what)
