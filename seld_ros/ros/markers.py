"""RViz markers for sound events: per track an arrow along the direction of arrival and a
text label; colour and namespace per class, so RViz can toggle classes one by one.

A front-folded event (stereo model: ``direction_front_folded``) cannot tell front from back, so it is drawn
honestly as two arrows: the reported direction in front (opaque) and its back mirror image (x -> -x, faint,
namespace ``<class>/mirror``), and its label ends in "(front/back?)"."""
from __future__ import annotations

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Vector3
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

# colours and lengths are shared with the ROS-free bag writer (seld-eval-bag), so both draw the same markers
from seld_ros.bag.messages import MIRROR_ALPHA, arrow_length, class_rgb, label_text


def class_color(class_id: int, num_classes: int, alpha: float = 0.9) -> ColorRGBA:
    r, g, b = class_rgb(class_id, num_classes)
    return ColorRGBA(r=r, g=g, b=b, a=alpha)


def build_markers(events_msg, num_classes: int, arrow_mode: str, scale: float, lifetime_s: float,
                  show_text: bool) -> MarkerArray:
    out = MarkerArray()
    life = Duration(sec=int(lifetime_s), nanosec=int((lifetime_s % 1.0) * 1e9))
    for ev in events_msg.events:
        length = arrow_length(ev, arrow_mode, scale)
        d = ev.direction
        color = class_color(ev.class_id, num_classes)
        arrow = Marker()
        arrow.header = events_msg.header
        arrow.ns = ev.class_name or f"class_{ev.class_id}"
        arrow.id = int(ev.track_id % 2**31)
        arrow.type = Marker.ARROW
        arrow.action = Marker.ADD
        arrow.points = [Point(), Point(x=d.x * length, y=d.y * length, z=d.z * length)]
        arrow.scale = Vector3(x=0.04 * scale, y=0.08 * scale, z=0.1 * scale)  # shaft, head diameters, head length
        arrow.color = color
        arrow.lifetime = life
        out.markers.append(arrow)
        if ev.direction_front_folded:
            mirror = Marker()
            mirror.header = events_msg.header
            mirror.ns = arrow.ns + "/mirror"
            mirror.id = arrow.id
            mirror.type = Marker.ARROW
            mirror.action = Marker.ADD
            mirror.points = [Point(), Point(x=-d.x * length, y=d.y * length, z=d.z * length)]
            mirror.scale = arrow.scale
            mirror.color = class_color(ev.class_id, num_classes, alpha=MIRROR_ALPHA)
            mirror.lifetime = life
            out.markers.append(mirror)
        if show_text:
            text = Marker()
            text.header = events_msg.header
            text.ns = arrow.ns + "/label"
            text.id = arrow.id
            text.type = Marker.TEXT_VIEW_FACING
            text.action = Marker.ADD
            text.pose.position = Point(x=d.x * length, y=d.y * length, z=d.z * length + 0.1 * scale)
            text.pose.orientation.w = 1.0
            text.scale.z = 0.1 * scale
            text.color = color
            text.text = label_text(ev)
            text.lifetime = life
            out.markers.append(text)
    return out


def delete_all(frame_id: str, stamp) -> MarkerArray:
    m = Marker()
    m.header.frame_id = frame_id
    m.header.stamp = stamp
    m.action = Marker.DELETEALL
    return MarkerArray(markers=[m])
