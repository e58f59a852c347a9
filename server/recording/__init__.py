"""Recording a session without re-encoding (issue 22): the relay's packets remuxed into files."""
