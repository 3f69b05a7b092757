"""A Mermaid diagram of one environment, read from its rendered templates, so the picture cannot drift.

Nodes are the nested stacks with a count of their resources by type (stacks that hold retained, stateful resources
are drawn as cylinders); edges are the root's wiring: ``producer --OutputName--> consumer`` for every child parameter
the root fills from a sibling's output, and the root parameters (the per-deploy knobs) into their consumers. The
identity stack (``templates/identity.py``) is a stack beside the root, not in it: the root names its roles by their
fixed ARNs (``Fn::Sub``), drawn as ``identity --RoleArn--> consumer``.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from templates import IDENTITY, ROOT
from templates._common import stack_id
from templates.stateful import STATEFUL

from .template_walk import Templates

STACK = "AWS::CloudFormation::Stack"


def _label(stem: str, template: dict) -> str:
    types = Counter(r["Type"].split("::", 2)[-1] for r in template.get("Resources", {}).values())
    parts = [f"{name} x{n}" if n > 1 else name for name, n in sorted(types.items())]
    rows = [", ".join(parts[i:i + 3]) for i in range(0, len(parts), 3)]
    return "<br/>".join([f"<b>{stem}</b>", *rows])


def mermaid(built: Templates) -> str:
    """``flowchart LR`` source for one environment's ``{stem: template dict}``."""
    root = built[ROOT]
    stems = {stack_id(stem): stem for stem in built if stem != ROOT}
    lines = ["flowchart LR", f'  root{{{{"<b>root</b><br/>{", ".join(root.get("Parameters", {}))}"}}}}']
    for sid, stem in sorted(stems.items(), key=lambda kv: list(built).index(kv[1])):
        stateful = any(rid in STATEFUL.get(sid, ()) for rid in built[stem].get("Resources", {}))
        open_, close = ('[("', '")]') if stateful else ('["', '"]')
        lines.append(f"  {stem}{open_}{_label(stem, built[stem])}{close}")
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for sid, res in root.get("Resources", {}).items():
        if res["Type"] != STACK:
            continue
        for name, value in res.get("Properties", {}).get("Parameters", {}).items():
            if "Ref" in value:
                edges[("root", stems[sid])].append(name)
            elif "Fn::Sub" in value and IDENTITY in built:  # an identity role's fixed ARN (templates/iam.py)
                edges[(IDENTITY, stems[sid])].append(name)
            else:
                producer, _ = value["Fn::GetAtt"]
                edges[(stems[producer], stems[sid])].append(name)
    order = list(built)
    for (src, dst), names in sorted(edges.items(),
                                    key=lambda e: (order.index(e[0][0]) if e[0][0] in built else -1, e[0][1])):
        lines.append(f"  {src} -- {', '.join(sorted(names))} --> {dst}")
    return "\n".join(lines) + "\n"
