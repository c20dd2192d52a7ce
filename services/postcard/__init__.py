"""postcard-service: asynchronous postcard creation over gRPC, with its queue workers.

The request path (servicer) writes a task and its queue message in one SQLite
transaction (a transactional outbox); workers claim messages under a lease,
generate the postcard (the AI-workflow stand-in) and complete the task in one
fenced transaction. See `server.py` for the gRPC side and `worker.py` for the
workers.
"""
