"""What Chromium's accessibility tree says of a page's keyboard stops (Playwright and its CDP session)."""

from __future__ import annotations

#: The element that has the focus, through open shadow roots.
_FOCUSED = """(() => { let a = document.activeElement
    while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement
    return a })()"""


def focused(page, cdp) -> dict:
    """What Chromium's accessibility tree says of the focused element (role, name, description and, for a
    toggle button, whether it is pressed), with its tag and classes."""
    handle = cdp.send("Runtime.evaluate", {"expression": _FOCUSED})["result"]
    (node,) = cdp.send("Accessibility.getPartialAXTree", {"objectId": handle["objectId"],
                                                         "fetchRelatives": False})["nodes"]
    tag = cdp.send("Runtime.callFunctionOn", {
        "objectId": handle["objectId"], "returnByValue": True,
        "functionDeclaration": "function () { return [this.tagName, this.className] }"})["result"]["value"]
    props = {p["name"]: p["value"].get("value") for p in node.get("properties", [])}
    return {"tag": tag[0], "class": tag[1], "role": node.get("role", {}).get("value"),
            "name": node.get("name", {}).get("value", ""),
            "description": node.get("description", {}).get("value", ""), "pressed": props.get("pressed")}


def tab_stops(page, cdp, first_css: str, limit: int = 60) -> list[dict]:
    """Focus `first_css`, then press Tab until the focus leaves the page's controls (the document itself)
    or comes back to the first stop; every stop on the way, the first one included."""
    page.locator(first_css).focus()
    stops = [focused(page, cdp)]
    for _ in range(limit):
        page.keyboard.press("Tab")
        stop = focused(page, cdp)
        if stop["tag"] == "BODY" or stop == stops[0]:
            break
        stops.append(stop)
    return stops
