"""ros2 launch tracegen bringup.launch.py [use_sim:=false] [robot_ip:=...] [camera_serial:=...]
[recording:=file.db3] [checkpoint:=dir] [instruction:="..."] [rviz:=true] [record_demos:=true]

A thin adapter: the nodes, parameters, remappings and argument defaults come from the node
graph in ``tracegen_ros.graph``, which ``tracegen bringup`` starts the same way from a pip
environment. ``ros2 launch tracegen bringup.launch.py --show-args`` lists the arguments.
"""

from tracegen_ros.graph import LaunchApi, launch_description


def generate_launch_description():
    return launch_description(LaunchApi.from_ros())
