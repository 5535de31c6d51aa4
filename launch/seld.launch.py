"""Start seld_node (and optionally a static TF for the microphone array and RViz).

    ros2 launch seld_ros seld.launch.py
    ros2 launch seld_ros seld.launch.py model:=/path/bundle.pt backend:=tensorrt \
        input_topic:=/mic/foa frame_id:=mic_array parent_frame:=base_link mic_x:=0.1 mic_z:=0.5 rviz:=true

Works on Humble and Jazzy (launch / launch_ros APIs common to both).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction
from launch.conditions import IfCondition, LaunchConfigurationNotEquals
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    share = FindPackageShare("seld_ros")
    args = [
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config", "seld.yaml"]),
                              description="Node parameters (YAML)"),
        DeclareLaunchArgument("model", default_value="", description="Model bundle; empty = shipped default"),
        DeclareLaunchArgument("backend", default_value="auto", description="auto | torch | onnxruntime | tensorrt"),
        DeclareLaunchArgument("input_topic", default_value="audio", description="MultichannelAudio input topic"),
        DeclareLaunchArgument("frame_id", default_value="mic_array",
                              description="Output frame (and TF child frame); empty = take it from the audio"),
        DeclareLaunchArgument("mode", default_value="live", description="live | replay"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="Use /clock (bag replay)"),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace for the node"),
        DeclareLaunchArgument("parent_frame", default_value="",
                              description="If set, publish a static TF parent_frame -> frame_id"),
        *[DeclareLaunchArgument(f"mic_{k}", default_value="0.0", description=f"Array pose in parent_frame: {k}")
          for k in ("x", "y", "z", "roll", "pitch", "yaw")],
        DeclareLaunchArgument("rviz", default_value="false", description="Start RViz with config/seld.rviz"),
    ]
    use_sim_time = LaunchConfiguration("use_sim_time")
    node = Node(
        package="seld_ros",
        executable="seld_node",
        name="seld_node",
        output="screen",
        emulate_tty=True,
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "model_file_path": LaunchConfiguration("model"),
                "backend": LaunchConfiguration("backend"),
                "frame_id": LaunchConfiguration("frame_id"),
                "mode": LaunchConfiguration("mode"),
                "use_sim_time": use_sim_time,
            },
        ],
        remappings=[("~/audio", LaunchConfiguration("input_topic"))],
    )
    static_tf = Node(
        package="tf2_ros",
        executable="static_transform_publisher",
        name="seld_mic_tf",
        # flag form (Humble and Jazzy; the positional form is deprecated)
        arguments=[a for k in ("x", "y", "z", "roll", "pitch", "yaw") for a in (f"--{k}", LaunchConfiguration(f"mic_{k}"))]
        + ["--frame-id", LaunchConfiguration("parent_frame"), "--child-frame-id", LaunchConfiguration("frame_id")],
        parameters=[{"use_sim_time": use_sim_time}],
        condition=LaunchConfigurationNotEquals("parent_frame", ""),
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="seld_rviz",
        arguments=["-d", PathJoinSubstitution([share, "config", "seld.rviz"])],
        parameters=[{"use_sim_time": use_sim_time}],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    group = GroupAction([PushRosNamespace(LaunchConfiguration("namespace")), node, static_tf, rviz])
    return LaunchDescription(args + [group])
