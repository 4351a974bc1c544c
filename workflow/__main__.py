"""``python -m workflow``: print the generated part of docs/workflow.md."""

from workflow.diagram import document

print(document(), end="")
