"""The paper's few-shot experiment in simulation: what to run (:mod:`.plan`) and its report (:mod:`.report`).

The runner, which records demos and evaluates through the ROS graph, is
:mod:`tracegen_ros.reproduce`; ``tracegen reproduce`` is its command line.
"""
