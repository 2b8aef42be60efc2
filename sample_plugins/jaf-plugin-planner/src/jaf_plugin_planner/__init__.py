"""jaf-plugin-planner: a task plan an agent keeps up to date, for jafhost.

``store`` holds the plan file logic (atomic JSON writes under a lock) and knows nothing
about jafhost; ``plugin`` holds the entry point's hooks and tools.
"""

from jaf_plugin_planner.store import PlanStore, Task, TaskNotFound

__all__ = ["PlanStore", "Task", "TaskNotFound"]
