"""The data layer: engine, models and queries. Every function takes its session explicitly."""
