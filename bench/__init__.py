"""The streaming benchmark: Beacon's stream path against nginx + nchan, in one run.

`./setup.sh bench` (or `.venv/bin/python -m bench --help`). Servers run pinned to core 0, the
load generator (bench/loadgen.c) and the publisher to core 1. Every figure is reported next to
nchan's figure from the same run, because this machine is shared and noisy: ratios travel,
absolute numbers do not.
"""
