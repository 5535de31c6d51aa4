"""The ROS 2 shell around seld_ros.pipeline: node, parameters, message conversions,
markers and diagnostics. The only part of the package that imports rclpy."""
