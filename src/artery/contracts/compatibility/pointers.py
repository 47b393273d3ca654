"""JSON pointers into the reader and writer documents, and their names for people."""

from __future__ import annotations


def child(pointer: str, *parts: str | int) -> str:
    return pointer + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def label(pointer: str) -> str:
    """A person's name for the location: "property 'order.lines[].sku'" or "root schema"."""
    segs = [unescape(s) for s in pointer.split("/")[1:]]
    path, i = "", 0
    while i < len(segs):
        seg, nxt = segs[i], segs[i + 1] if i + 1 < len(segs) else None
        if seg in ("properties", "dependentSchemas") and nxt is not None:
            path, i = f"{path}.{nxt}" if path else nxt, i + 1
        elif seg in ("$defs", "definitions") and nxt is not None:
            path, i = f"{seg}/{nxt}", i + 1
        elif seg == "patternProperties" and nxt is not None:
            path, i = f"{path}.<{nxt}>" if path else f"<{nxt}>", i + 1
        elif seg in ("items", "additionalItems"):
            path += "[]"
        elif seg == "prefixItems" and nxt is not None:
            path, i = f"{path}[{nxt}]", i + 1
        i += 1
    if not path:
        return "root schema"
    return f"item '{path}'" if path.startswith("[") else f"property '{path}'"
