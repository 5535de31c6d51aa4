"""Start seld_node (and optionally a static TF for the microphone array and RViz).

    ros2 launch seld_ros seld.launch.py
    ros2 launch seld_ros seld.launch.py params_file:=/path/my_seld.yaml
    ros2 launch seld_ros seld.launch.py model:=/path/bundle.pt backend:=tensorrt \
        input_topic:=/mic/foa frame_id:=mic_array parent_frame:=base_link mic_x:=0.1 mic_z:=0.5 rviz:=true

Parameter precedence, lowest first: the package's config/seld.yaml, then your params_file, then the launch
arguments you set explicitly (model, backend, frame_id, mode, use_sim_time). A launch argument left unset passes
nothing, so it never overrides your params file.

rviz:=true without rviz2 installed, or parent_frame:=... without tf2_ros, logs a warning and skips that part; the
node still starts. Works on Humble and Jazzy: the actions are chosen in Python (OpaqueFunction), with none of the
launch conditions whose names changed between distributions.
"""
import os

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node, PushRosNamespace

POSE_KEYS = ("x", "y", "z", "roll", "pitch", "yaw")
# launch argument -> node parameter; passed only when the argument is set (non-empty)
PARAM_ARGS = {"model": "model_file_path", "backend": "backend", "frame_id": "frame_id", "mode": "mode",
              "use_sim_time": "use_sim_time"}
TRUE = ("true", "1", "yes", "on")
SIGTERM_TIMEOUT_S = "5"  # seconds launch waits after SIGINT before SIGTERM; seld_node ends within 2 s


def generate_launch_description():
    args = [
        DeclareLaunchArgument("params_file", default_value="",
                              description="Your node parameters (YAML), applied over the package's "
                                          "config/seld.yaml; empty: the package's file alone"),
        DeclareLaunchArgument("model", default_value="",
                              description="Model bundle; empty: from the params file (shipped default model, "
                                          "FOA). A stereo bundle (e.g. seld_ros/models/stereo_default.pt) runs "
                                          "a stereo microphone: nothing else to set"),
        DeclareLaunchArgument("backend", default_value="",
                              description="auto | torch | onnxruntime | tensorrt; empty: from the params file "
                                          "(auto)"),
        DeclareLaunchArgument("input_topic", default_value="audio",
                              description="MultichannelAudio input topic (~/audio is remapped to it); FOA (4 "
                                          "ch) or stereo (2 ch, layout stereo), matching the model"),
        DeclareLaunchArgument("frame_id", default_value="",
                              description="Output frame; empty: from the params file (empty there: the audio's)"),
        DeclareLaunchArgument("mode", default_value="", description="live | replay; empty: from the params file"),
        DeclareLaunchArgument("use_sim_time", default_value="",
                              description="Use /clock (bag replay): true | false; empty: from the params file"),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace for the node"),
        DeclareLaunchArgument("parent_frame", default_value="",
                              description="If set, publish a static TF parent_frame -> frame_id (mic_array if "
                                          "frame_id is unset); needs tf2_ros"),
        *[DeclareLaunchArgument(f"mic_{k}", default_value="0.0", description=f"Array pose in parent_frame: {k}")
          for k in POSE_KEYS],
        DeclareLaunchArgument("rviz", default_value="false",
                              description="Start RViz with config/seld.rviz (needs rviz2)"),
    ]
    return LaunchDescription(args + [OpaqueFunction(function=launch_setup)])


def _installed(package: str) -> bool:
    try:
        get_package_share_directory(package)
        return True
    except PackageNotFoundError:
        return False


def launch_setup(context, *args, **kwargs):
    """The actions, from the launch arguments' values (evaluated here, so every choice is plain Python)."""
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context).strip()

    share = get_package_share_directory("seld_ros")
    parameters = [os.path.join(share, "config", "seld.yaml")]
    if arg("params_file"):
        parameters.append(arg("params_file"))
    explicit = {}
    for name, param in PARAM_ARGS.items():
        value = arg(name)
        if value:
            explicit[param] = value.lower() in TRUE if param == "use_sim_time" else value
    if explicit:
        parameters.append(explicit)
    sim_time = arg("use_sim_time").lower() in TRUE
    actions = [PushRosNamespace(arg("namespace")), Node(
        package="seld_ros",
        executable="seld_node",
        name="seld_node",
        output="screen",
        emulate_tty=True,
        parameters=parameters,
        remappings=[("~/audio", arg("input_topic"))],
        # Ctrl-C: launch sends SIGINT (the terminal sends one too); the node drains what it has for at most 0.5 s and
        # ends within 2 s even under load (a stop during its start-up ends it at once). launch escalates to SIGTERM
        # (handled the same way) after sigterm_timeout, then to SIGKILL: said here, not left to a default.
        sigterm_timeout=SIGTERM_TIMEOUT_S,
        sigkill_timeout=SIGTERM_TIMEOUT_S,
    )]
    if arg("parent_frame"):
        if _installed("tf2_ros"):
            child = arg("frame_id") or "mic_array"
            actions.append(Node(
                package="tf2_ros",
                executable="static_transform_publisher",
                name="seld_mic_tf",
                # flag form (Humble and Jazzy; the positional form is deprecated)
                arguments=[a for k in POSE_KEYS for a in (f"--{k}", arg(f"mic_{k}"))]
                + ["--frame-id", arg("parent_frame"), "--child-frame-id", child],
                parameters=[{"use_sim_time": sim_time}],
            ))
        else:
            actions.append(LogInfo(msg=f"[seld_ros] WARNING: parent_frame:={arg('parent_frame')} needs tf2_ros, "
                                       "which is not installed: no static TF published (install "
                                       "ros-$ROS_DISTRO-tf2-ros); seld_node starts anyway"))
    if arg("rviz").lower() in TRUE:
        if _installed("rviz2"):
            actions.append(Node(
                package="rviz2",
                executable="rviz2",
                name="seld_rviz",
                arguments=["-d", os.path.join(share, "config", "seld.rviz")],
                parameters=[{"use_sim_time": sim_time}],
            ))
        else:
            actions.append(LogInfo(msg="[seld_ros] WARNING: rviz:=true needs rviz2, which is not installed: RViz "
                                       "not started (install ros-$ROS_DISTRO-rviz2); seld_node starts anyway"))
    return [GroupAction(actions)]
