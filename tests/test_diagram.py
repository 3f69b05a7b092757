"""The Mermaid diagram is read from the templates: stateful stacks are cylinders, edges are the root's wiring."""

from __future__ import annotations

import copy

from checks.diagram import mermaid


def test_nodes_and_edges_follow_the_templates(prod):
    text = mermaid(prod)
    assert '  storage[("<b>storage</b>' in text and '  service["<b>service</b>' in text
    assert "  root -- DesiredCount, ImageTag --> service" in text
    assert "  certificate -- CertificateArn --> load_balancer" in text
    changed = copy.deepcopy(prod)
    changed["root"]["Resources"]["ServiceStack"]["Properties"]["Parameters"]["ClusterName"] = {
        "Fn::GetAtt": ["MonitoringStack", "Outputs.ClusterName"]}
    rewired = mermaid(changed)
    assert ("  monitoring -- ClusterName --> service" in rewired
            and "  cluster -- ClusterName --> service" not in rewired)
