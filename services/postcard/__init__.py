"""postcard-service: asynchronous postcard creation over gRPC, with its queue workers.

The request path (servicer) writes a task and its queue message in one SQLite
transaction (a transactional outbox); workers claim messages under a lease
(a leased row of that table, or a pending entry of a Redis stream the outbox
is relayed to), generate the postcard (the AI-workflow stand-in) and complete
the task in one fenced transaction.

Run it with ``python -m services.postcard``; build it in tests with
``services.postcard.server.create_server(settings)``. Module map, in the order a
request meets them: ``settings``, ``validation`` (gRPC request -> ``model``),
``schema`` (the tables), ``store`` (tasks and postcards for the request path),
``servicer`` (the gRPC methods), ``server`` (assembly); then for the workers:
``taskqueue`` (what workers consume, backend by backend: ``sqlitequeue``; ``redisqueue``
fed by the ``outbox`` relay, entries as ``stream`` says), ``generator``, ``artwork`` and
``textlayout`` (the AI stand-in), ``worker`` (the pool), ``worker_main`` (standalone worker processes);
``metrics``, the Prometheus series of tasks and of the queue.
"""
