"""The ``tracegen`` command: one module per sub-command, each with a ``register(app)``.

Modules import their heavy dependencies (torch, ray, rclpy) inside the command functions,
so ``tracegen --help`` and light commands start fast.
"""
