"""tracegen: the ROS-free core of the TraceGen stack.

Trace representation, model, TraceForge data engine, datasets, retargeting, IK, robot
interface, simulation and evaluation. Nothing in this package imports ROS, so training
clusters can ``pip install`` it without a ROS distribution.

The generated ROS messages live in ``tracegen.msg`` when the colcon package is built. That
sub-package is installed by colcon into its own prefix, so the package path is extended
across every ``tracegen`` directory on ``sys.path`` (a pip or source checkout of the core
and a colcon install of the messages then combine into one package).
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
