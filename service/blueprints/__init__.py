"""The web layer: one small blueprint per area; views parse, call the domain, and answer."""
