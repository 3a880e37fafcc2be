from .expert_aux import ExpertAux
from .expert_info import ExpertInfo
from .expert_out import ExpertOut
from .expert_ref import ExpertRef
from .expert_registry_trait import ExpertRegistry
from .expert_trait import Expert

__all__ = ["Expert", "ExpertAux", "ExpertInfo", "ExpertOut", "ExpertRef", "ExpertRegistry"]
