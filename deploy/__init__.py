"""SHIP stage: talks to AWS. Package the rendered templates to S3, plan and review a change set over the whole
nested hierarchy, apply it while following every nested stack, report status, destroy.

Layout, one concern per module:

``errors``     the two early endings: DeployError (exit 1) and BadInput (exit 2), each with the command that fixes it
``aws``        the one session factory (profile, region, adaptive retries, ``AWS_ENDPOINT_URL`` left to boto3),
               the account guard and API call counting
``ui``         terminal output (rich on a TTY, plain lines otherwise), confirmation, polling with backoff
``package``    guardrails, then content-addressed upload of the children, then the root; the quick-create URL
``bootstrap``  the template bucket's own small stack
``stacks``     stack state: what may be done now, nested stacks, prod protection (termination, stack policy)
``changeset``  change set names, create, wait, describe recursively (nested change sets), clean up
``diff``       the deployed templates read back (GetTemplate), compared with the packaged ones: IAM, security
               groups and cost (the comparisons themselves are pure, in ``checks``)
``review``     the review model, the data-loss and single-writer guards, and its text / rich / JSON / Markdown
               renderings
``watch``      following an operation's events across nested stacks, failure summaries, recovery advice
``retained``   what ``destroy`` leaves behind (DeletionPolicy Retain), what a rolled-back create kept, and how to
               remove it by hand
``adopt``      ``plan --adopt``: the resources of ours that exist outside any stack, imported as they are
``migrate``    ``migrate-data``: the temporary path stack, the one-off copy task, its report; ``copy_data`` is the
               program that task runs (standard library only)
``commands``   one function per CLI command; ``cli`` wires them into ``generate.py``

Nothing here builds resources: templates come from ``templates.render()``, ``templates.bootstrap`` and
``templates.migrate``; ``adopt`` only writes the properties it read from AWS into the resources it imports.
"""
