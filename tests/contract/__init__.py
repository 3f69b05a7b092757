"""The IAM contract suite: what the code asks of AWS, judged against the rendered policies by an IAM policy engine."""
