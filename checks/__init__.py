"""CHECK stage (offline): cfn-lint with a result cache, freshness of ``output/``, and the writer of ``output/``."""
