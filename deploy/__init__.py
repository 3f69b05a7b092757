"""SHIP stage: talks to AWS. Package the rendered templates to S3, plan and review a change set over the whole
nested hierarchy, apply it while following every nested stack, report status, destroy.

Layout, in rooms that import only downwards (no cycles; ``tests/test_imports.py`` keeps it so; docs/design.md
"Inside the ship"):

The command line

``cli``         the subcommands' arguments (imported by ``generate.py``, no boto3)
``adapters``    arguments in, :class:`context.Ctx` built, the verb called; the only importer of ``verbs``
``verbs/``      one module per command: ``bootstrap``, ``package``, ``plan``, ``apply``, ``status``, ``destroy``,
                ``drift``, ``verify``, ``discover``, ``history``, ``rollback``, ``migrate`` (migrate-data); each holds
                its verb and that verb's private helpers, and imports no other verb

What two verbs share

``pipeline``    ``plan``'s pipeline (preflight, drift, guardrails and upload, the change set, the diff, the review),
                used by ``plan``, ``apply`` and ``rollback``
``applying``    applying a planned change set: confirmation, the data-loss and single-writer guards, production
                protection, execute and follow, the release record (``apply`` and ``rollback``)
``operations``  the shared engine: execute, follow, delete (and confirm it is gone), idle, ready, the single change
                set of a stack that is not nested, the one CREATE/UPDATE choice
``context``     ``Ctx`` (environment, AWS, terminal, clock), ``PlanOptions``, ``Planned``

The library (no verb in it)

``errors``     the two early endings: DeployError (exit 1) and BadInput (exit 2), each with the command that fixes it;
               ``aws_cli``, the one builder of every printed ``aws`` command
``aws``        the one session factory (profile, region, adaptive retries, ``AWS_ENDPOINT_URL`` left to boto3),
               the account guard and API call counting
``ui``         terminal output (rich on a TTY, plain lines otherwise), confirmation, polling with backoff
``markdown``   the one Markdown escaping and folding, used by every renderer
``built``      the templates of one run, built once; every later step reads that value
``package``    what would be uploaded (worked out without a call), then the content-addressed upload of the
               children, then the root; the quick-create URL
``bootstrap``  the template bucket's own small stack and the boundary's
``stacks``     stack state: what may be done now, nested stacks, prod protection (termination, stack policy)
``changeset``  change set names, create, wait, describe recursively (nested change sets), clean up
``diff``       the deployed templates read back (GetTemplate), compared with the packaged ones: IAM, security
               groups and cost (the comparisons themselves are pure, in ``checks``)
``preflight``  read-only checks before any change set (names, references, the identity stack, simulated permissions);
               ``simulate`` asks IAM what the execution role may do; ``identity`` builds and reads the identity stack
``review``     the review model, the data-loss and single-writer guards, and its text / rich / JSON / Markdown
               renderings; ``schema`` the version of the JSON it writes
``watch``      following an operation's events across nested stacks, failure summaries, recovery advice
``retained``   what ``destroy`` leaves behind (DeletionPolicy Retain), what a rolled-back create kept, and how to
               remove it by hand
``adopt``      ``plan --adopt``: the resources of ours that exist outside any stack, imported as they are
``drift``      drift detection over the hierarchy and its review
``history``    the release records: written by ``apply``, read by ``history`` and ``rollback``
``verify``     the seed's testing checklist, item by item
``migrate``    ``migrate-data``'s pieces: the seed's source, the one-off copy task, its report; ``copy_data`` is the
               program that task runs (standard library only)

Nothing here builds resources: templates come from ``templates.render()``, ``templates.bootstrap`` and
``templates.migrate``; ``adopt`` only writes the properties it read from AWS into the resources it imports.
"""
