"""Cluster mode: several chinwag processes on one shared store (PostgreSQL), one owner per session.

node.py keeps this process's liveness lease; ownership.py claims, fences and releases sessions;
fenced.py makes a session actor write only while its node still owns the session.
"""
