"""The Prefect tasks the flows wire, one module per plain-logic module of tasks/ that they wrap
(tasks/training.py -> tasks/prefect_tasks/training.py, ...). Task names are external (the
Prefect UI, automations): keep them. The plain modules import without Prefect."""
