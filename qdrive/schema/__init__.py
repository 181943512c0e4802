"""JSON Schemas of qdrive's JSON output (data only; see qdrive.frontend.jsonout)."""

__all__: list[str] = []


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
