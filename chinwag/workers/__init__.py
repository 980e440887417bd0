"""`chinwag serve --workers N`: N processes on one machine sharing the port and the store.

parent.py binds the public socket once, runs the first-start bootstrap once, spawns the workers
(`python -m chinwag.cli serve` with the socket and the data directory's lock passed as file
descriptors) and supervises them: a worker that dies is restarted within a restart intensity,
SIGINT/SIGTERM stop them all gracefully. child.py is a worker: a cluster node (chinwag/cluster)
on the shared LMDB env or PostgreSQL that accepts on the inherited socket and relays to its
siblings through its own internal listener, which internal.py closes to anyone without the
cluster's node key.
"""
