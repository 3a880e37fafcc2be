"""himoe-ray: installed experts (or any expert class) hosted as Ray Serve deployments.

Configured in the himoe config's ``[ray]`` table; see docs/ray.md. Nothing here imports ray:
it is imported, and the cluster started or joined, on the first request or ``warm_up()``.
"""

__version__ = "0.1.0"
