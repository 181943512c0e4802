"""JSON Schemas of qdrive's JSON output (data only; see qdrive.frontend.jsonout)."""
