"""Importing this module registers every mutation handler and extra pull loader."""

from server.services import (  # noqa: F401
    conversations,  # message/create, the message pull kind (online consultation)
    knowledge_edit,  # synonyms and knowledge_feedback pull kinds
    notes,
    rectifications,  # the rectification pull kind and its lead-only mutations
    session_ops,  # session create/transition/transfer/reassign/reveal, evaluation
    share,  # the share_link pull loader
    walkthrough_runs,
    walkthroughs,
)
