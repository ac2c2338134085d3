"""The robot side (ROS-free): FR3 kinematics, IK, the safety envelope, trajectories, the arm.

- :mod:`~tracegen.robot.kinematics`: Pinocchio FR3 model, FK, Jacobians, configurable TCP.
- :mod:`~tracegen.robot.ik`: damped least squares and a pink QP, within the envelope's limits.
- :mod:`~tracegen.robot.safety`: the safety envelope shared by every command producer.
- :mod:`~tracegen.robot.trajectory`: time parameterisation of joint waypoints within limits.
- :mod:`~tracegen.robot.plan`: the end-effector plan (retargeting -> controller).
- :mod:`~tracegen.robot.interface`: the :class:`RobotInterface` protocol;
  :mod:`~tracegen.robot.franky_robot` (franky: the FR3 or franky-sim) and
  :mod:`~tracegen.robot.dry_run` (no robot: records what would be sent) implement it.
- :mod:`~tracegen.robot.controller`: plan -> IK -> trajectory -> robot, with e-stop, stale-plan
  timeout and error handling; the IK controller node is a thin ROS wrapper around it.

Modules import Pinocchio; franky is imported only when a :class:`FrankyRobot` is created.
"""
