"""One module per command, each with the function ``deploy/adapters.py`` calls (the verb) and its private helpers.

Nothing imports a verb module except the command line (``deploy/adapters.py``, ``deploy/cli.py``, ``generate.py``)
and the tests (``tests/test_imports.py`` keeps it so). What two verbs share lives outside this package: the engine in
``deploy/operations.py``, plan's pipeline in ``deploy/pipeline.py``, applying a planned change set in
``deploy/applying.py``.
"""
