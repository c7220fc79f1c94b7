#!/bin/sh
# Run a command with no network but loopback: a new network namespace (needs root or user
# namespaces) with only `lo` up. Jupyter kernels talk to their client over 127.0.0.1, so notebooks
# run normally; any attempt to reach the internet fails at once, as in an offline classroom.
#   book/offline.sh pytest --nbval-lax chapters
exec unshare -n -- sh -c 'ip link set lo up && exec "$@"' sh "$@"
