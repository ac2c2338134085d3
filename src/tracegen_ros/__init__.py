"""tracegen_ros: thin rclpy nodes and bringup over the ROS-free ``tracegen`` core.

Modules here convert ROS messages to and from core types and call the core; logic that does
not need ROS belongs in ``tracegen``.
"""
