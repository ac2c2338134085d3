"""The simulated FR3 tabletop world: franky-sim + MuJoCo, a simulated RealSense, tasks, experts."""
