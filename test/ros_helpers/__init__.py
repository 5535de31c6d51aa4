"""Helpers shared by the ROS tests (message factories, process control)."""
