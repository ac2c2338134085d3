"""rclpy nodes: one module per node, <name>_node.py with a main(args=None) -> int."""
