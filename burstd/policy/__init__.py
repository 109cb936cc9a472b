"""The BurstPolicy language: pydantic models (``spec``) and the YAML loader with positions (``loader``)."""
